CREATE TABLE "number_settings" (
	"number" text PRIMARY KEY NOT NULL,
	"price_announcement" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
