CREATE TABLE "calls" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"channel_id" text NOT NULL,
	"asterisk_id" text,
	"dialed_number" text,
	"dialed_raw" text NOT NULL,
	"caller_number" text,
	"caller_raw" text NOT NULL,
	"outcome" text NOT NULL,
	"purchase_id" uuid,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"answered_at" timestamp with time zone,
	"counted_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"answered_seconds" integer,
	"hangup_cause" integer,
	"hangup_cause_text" text,
	CONSTRAINT "calls_channel_id_unique" UNIQUE("channel_id")
);
--> statement-breakpoint
CREATE TABLE "merchants" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"api_key_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "merchants_api_key_hash_unique" UNIQUE("api_key_hash")
);
--> statement-breakpoint
CREATE TABLE "number_lendings" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"offer_id" uuid NOT NULL,
	"number" text NOT NULL,
	"purchase_id" uuid NOT NULL,
	"lent_at" timestamp with time zone DEFAULT now() NOT NULL,
	"hold_until" timestamp with time zone NOT NULL,
	"released_at" timestamp with time zone,
	"rest_until" timestamp with time zone NOT NULL,
	CONSTRAINT "number_lendings_purchase_id_unique" UNIQUE("purchase_id"),
	CONSTRAINT "number_lendings_order" CHECK ("number_lendings"."lent_at" <= "number_lendings"."hold_until" and "number_lendings"."lent_at" <= "number_lendings"."rest_until")
);
--> statement-breakpoint
CREATE TABLE "offer_numbers" (
	"offer_id" uuid NOT NULL,
	"number" text NOT NULL,
	CONSTRAINT "offer_numbers_offer_id_number_pk" PRIMARY KEY("offer_id","number")
);
--> statement-breakpoint
CREATE TABLE "offers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"merchant_id" uuid NOT NULL,
	"name" text NOT NULL,
	"mode" text NOT NULL,
	"calls_required" integer NOT NULL,
	"min_call_seconds" integer NOT NULL,
	"purchase_ttl_seconds" integer NOT NULL,
	"max_hold_seconds" integer,
	"quarantine_seconds" integer,
	"language" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "offers_calls_required" CHECK ("offers"."calls_required" between 1 and 20),
	CONSTRAINT "offers_min_call_seconds" CHECK ("offers"."min_call_seconds" between 0 and 600),
	CONSTRAINT "offers_ttl" CHECK ("offers"."purchase_ttl_seconds" between 10 and 604800),
	CONSTRAINT "offers_dynamic_fields" CHECK (("offers"."mode" = 'caller_id') = ("offers"."max_hold_seconds" is null and "offers"."quarantine_seconds" is null)),
	CONSTRAINT "offers_max_hold" CHECK ("offers"."max_hold_seconds" is null or "offers"."max_hold_seconds" >= "offers"."purchase_ttl_seconds"),
	CONSTRAINT "offers_quarantine" CHECK ("offers"."quarantine_seconds" is null or "offers"."quarantine_seconds" between 0 and 86400)
);
--> statement-breakpoint
CREATE TABLE "purchase_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"purchase_id" uuid NOT NULL,
	"type" text NOT NULL,
	"calls_counted" integer NOT NULL,
	"call_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "purchases" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"merchant_id" uuid NOT NULL,
	"offer_id" uuid NOT NULL,
	"mode" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"reference" text,
	"caller_number" text,
	"number_to_call" text NOT NULL,
	"calls_required" integer NOT NULL,
	"calls_counted" integer DEFAULT 0 NOT NULL,
	"min_call_seconds" integer NOT NULL,
	"language" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"completed_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	CONSTRAINT "purchases_counted" CHECK ("purchases"."calls_counted" between 0 and "purchases"."calls_required")
);
--> statement-breakpoint
ALTER TABLE "calls" ADD CONSTRAINT "calls_purchase_id_purchases_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."purchases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "number_lendings" ADD CONSTRAINT "number_lendings_offer_id_offers_id_fk" FOREIGN KEY ("offer_id") REFERENCES "public"."offers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "number_lendings" ADD CONSTRAINT "number_lendings_purchase_id_purchases_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."purchases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "offer_numbers" ADD CONSTRAINT "offer_numbers_offer_id_offers_id_fk" FOREIGN KEY ("offer_id") REFERENCES "public"."offers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "purchase_events" ADD CONSTRAINT "purchase_events_purchase_id_purchases_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."purchases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "purchase_events" ADD CONSTRAINT "purchase_events_call_id_calls_id_fk" FOREIGN KEY ("call_id") REFERENCES "public"."calls"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "purchases" ADD CONSTRAINT "purchases_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "purchases" ADD CONSTRAINT "purchases_offer_id_offers_id_fk" FOREIGN KEY ("offer_id") REFERENCES "public"."offers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "calls_purchase" ON "calls" USING btree ("purchase_id");--> statement-breakpoint
CREATE INDEX "calls_in_progress" ON "calls" USING btree ("asterisk_id") WHERE "calls"."outcome" = 'in_progress';--> statement-breakpoint
CREATE INDEX "number_lendings_number" ON "number_lendings" USING btree ("number","rest_until");--> statement-breakpoint
CREATE INDEX "offer_numbers_number" ON "offer_numbers" USING btree ("number");--> statement-breakpoint
CREATE INDEX "purchase_events_purchase" ON "purchase_events" USING btree ("purchase_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "purchases_one_pending_per_caller_number" ON "purchases" USING btree ("number_to_call","caller_number") WHERE "purchases"."status" = 'pending' and "purchases"."mode" = 'caller_id';--> statement-breakpoint
CREATE INDEX "purchases_merchant" ON "purchases" USING btree ("merchant_id","created_at");--> statement-breakpoint
CREATE INDEX "purchases_caller_number" ON "purchases" USING btree ("number_to_call","caller_number","created_at");--> statement-breakpoint
-- A pool number is never occupied (lent, then resting) by two lendings at once. drizzle-kit
-- cannot declare exclusion constraints, so this one is written by hand.
CREATE EXTENSION IF NOT EXISTS btree_gist;--> statement-breakpoint
ALTER TABLE "number_lendings" ADD CONSTRAINT "number_lendings_no_overlap"
  EXCLUDE USING gist ("number" WITH =, tstzrange("lent_at", "rest_until") WITH &&);
