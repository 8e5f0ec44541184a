CREATE TABLE "device_credentials" (
	"device_id" text PRIMARY KEY NOT NULL,
	"public_key" text,
	"enrolled_at" timestamp with time zone,
	"credential_expires_at" timestamp with time zone,
	"group_id" text,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "device_credentials_public_key_unique" UNIQUE("public_key")
);
--> statement-breakpoint
CREATE TABLE "enrollment_groups" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"token_hash" text NOT NULL,
	"tags" jsonb NOT NULL,
	"id_prefix" text,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "enrollment_groups_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "enrollment_tokens" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"device_id" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "enrollment_tokens_device_idx" ON "enrollment_tokens" USING btree ("device_id");