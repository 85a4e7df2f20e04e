ALTER TABLE "offers" DROP CONSTRAINT "offers_max_hold";--> statement-breakpoint
ALTER TABLE "offers" ALTER COLUMN "purchase_ttl_seconds" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "offers" ADD COLUMN "hold_seconds" integer;--> statement-breakpoint
-- Hand-written (drizzle-kit cannot know it): dynamic_number offers kept the hold of their lent
-- numbers in purchase_ttl_seconds; move it to its own column before the checks below apply.
UPDATE "offers" SET "hold_seconds" = "purchase_ttl_seconds", "purchase_ttl_seconds" = NULL WHERE "mode" = 'dynamic_number';--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_hold" CHECK ("offers"."hold_seconds" between 10 and 604800);--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_lifetime_by_mode" CHECK (("offers"."purchase_ttl_seconds" is not null) = ("offers"."mode" = 'caller_id') and ("offers"."hold_seconds" is not null) = ("offers"."mode" = 'dynamic_number'));--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_max_hold" CHECK ("offers"."max_hold_seconds" is null or "offers"."max_hold_seconds" >= "offers"."hold_seconds");