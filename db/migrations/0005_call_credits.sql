CREATE TABLE "call_credits" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"call_id" uuid NOT NULL,
	"purchase_id" uuid NOT NULL,
	"credited_by" text NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "call_credits_call_id_unique" UNIQUE("call_id")
);
--> statement-breakpoint
ALTER TABLE "call_credits" ADD CONSTRAINT "call_credits_call_id_calls_id_fk" FOREIGN KEY ("call_id") REFERENCES "public"."calls"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "call_credits" ADD CONSTRAINT "call_credits_purchase_id_purchases_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."purchases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "call_credits_purchase" ON "call_credits" USING btree ("purchase_id");