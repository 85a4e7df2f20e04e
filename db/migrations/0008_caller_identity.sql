DROP INDEX "purchases_one_pending_per_caller_number";--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "anonymised_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "merchants" ADD COLUMN "name_sound" text;--> statement-breakpoint
ALTER TABLE "offers" ADD COLUMN "name_sound" text;--> statement-breakpoint
ALTER TABLE "purchases" ADD COLUMN "disputed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "purchases" ADD COLUMN "client_ip_hash" text;--> statement-breakpoint
ALTER TABLE "purchases" ADD COLUMN "anonymised_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "calls_caller" ON "calls" USING btree ("caller_number","started_at");--> statement-breakpoint
CREATE UNIQUE INDEX "purchases_one_pending_per_caller_number_merchant" ON "purchases" USING btree ("number_to_call","caller_number","merchant_id") WHERE "purchases"."status" = 'pending' and "purchases"."mode" = 'caller_id';--> statement-breakpoint
CREATE INDEX "purchases_caller_created" ON "purchases" USING btree ("caller_number","created_at");--> statement-breakpoint
CREATE INDEX "purchases_client_ip_created" ON "purchases" USING btree ("client_ip_hash","created_at");