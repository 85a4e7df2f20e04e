CREATE TABLE "access_codes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"code" text NOT NULL,
	"merchant_id" uuid NOT NULL,
	"offer_id" uuid NOT NULL,
	"purchase_id" uuid NOT NULL,
	"call_id" uuid,
	"caller_number" text,
	"dialed_number" text NOT NULL,
	"calls_counted" integer NOT NULL,
	"issued_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"redeemed_at" timestamp with time zone,
	"reference" text,
	CONSTRAINT "access_codes_purchase_id_unique" UNIQUE("purchase_id"),
	CONSTRAINT "access_codes_shape" CHECK ("access_codes"."code" ~ '^[0-9]{8}$')
);
--> statement-breakpoint
CREATE TABLE "code_redeem_failures" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"merchant_id" uuid NOT NULL,
	"failed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "offers" DROP CONSTRAINT "offers_dynamic_fields";--> statement-breakpoint
ALTER TABLE "offers" ADD COLUMN "code_ttl_seconds" integer;--> statement-breakpoint
ALTER TABLE "offers" ADD COLUMN "formula_window_seconds" integer;--> statement-breakpoint
ALTER TABLE "access_codes" ADD CONSTRAINT "access_codes_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_codes" ADD CONSTRAINT "access_codes_offer_id_offers_id_fk" FOREIGN KEY ("offer_id") REFERENCES "public"."offers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_codes" ADD CONSTRAINT "access_codes_purchase_id_purchases_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."purchases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_codes" ADD CONSTRAINT "access_codes_call_id_calls_id_fk" FOREIGN KEY ("call_id") REFERENCES "public"."calls"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "code_redeem_failures" ADD CONSTRAINT "code_redeem_failures_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "access_codes_unredeemed" ON "access_codes" USING btree ("code") WHERE "access_codes"."redeemed_at" is null;--> statement-breakpoint
CREATE INDEX "access_codes_code" ON "access_codes" USING btree ("code");--> statement-breakpoint
CREATE INDEX "access_codes_caller" ON "access_codes" USING btree ("caller_number","issued_at");--> statement-breakpoint
CREATE INDEX "access_codes_offer" ON "access_codes" USING btree ("offer_id","issued_at");--> statement-breakpoint
CREATE INDEX "access_codes_call" ON "access_codes" USING btree ("call_id");--> statement-breakpoint
CREATE INDEX "code_redeem_failures_merchant" ON "code_redeem_failures" USING btree ("merchant_id","failed_at");--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_access_code_fields" CHECK (("offers"."mode" = 'access_code') = ("offers"."code_ttl_seconds" is not null and "offers"."formula_window_seconds" is not null));--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_code_ttl" CHECK ("offers"."code_ttl_seconds" between 60 and 2678400);--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_formula_window" CHECK ("offers"."formula_window_seconds" between 60 and 2678400);--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_dynamic_fields" CHECK (("offers"."mode" <> 'dynamic_number') = ("offers"."max_hold_seconds" is null and "offers"."quarantine_seconds" is null));