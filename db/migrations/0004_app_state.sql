CREATE TABLE "app_state" (
	"name" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);--> statement-breakpoint
-- Hand-written (drizzle-kit cannot know it): the demo site's state leaves the secrets table
-- for app_state without the demo merchant's API key, which it held in clear. That key is
-- revoked as well (no SHA-256 hex equals 'revoked:<id>'): nothing uses it any more, and it sat
-- readable in the database and its backups.
INSERT INTO "app_state" ("name", "value", "created_at")
  SELECT 'demo', "value"::jsonb - 'apiKey', "created_at" FROM "secrets" WHERE "name" = 'demo_state';--> statement-breakpoint
UPDATE "merchants" SET "api_key_hash" = 'revoked:' || "id"
  WHERE "id" = (SELECT ("value"::jsonb ->> 'merchantId')::uuid FROM "secrets" WHERE "name" = 'demo_state');--> statement-breakpoint
DELETE FROM "secrets" WHERE "name" = 'demo_state';
