ALTER TABLE "calls" ADD COLUMN "seconds_credited" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "offers" ADD COLUMN "unit" text DEFAULT 'call' NOT NULL;--> statement-breakpoint
ALTER TABLE "offers" ADD COLUMN "seconds_required" integer;--> statement-breakpoint
ALTER TABLE "purchases" ADD COLUMN "unit" text DEFAULT 'call' NOT NULL;--> statement-breakpoint
ALTER TABLE "purchases" ADD COLUMN "seconds_required" integer;--> statement-breakpoint
ALTER TABLE "purchases" ADD COLUMN "seconds_counted" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_seconds_by_unit" CHECK (("offers"."seconds_required" is not null) = ("offers"."unit" = 'second'));--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_seconds_required" CHECK ("offers"."seconds_required" is null or "offers"."seconds_required" between 1 and 3600);--> statement-breakpoint
ALTER TABLE "purchases" ADD CONSTRAINT "purchases_seconds_by_unit" CHECK (("purchases"."seconds_required" is not null) = ("purchases"."unit" = 'second'));--> statement-breakpoint
ALTER TABLE "purchases" ADD CONSTRAINT "purchases_seconds_counted" CHECK ("purchases"."seconds_counted" >= 0 and "purchases"."seconds_counted" <= coalesce("purchases"."seconds_required", 0));