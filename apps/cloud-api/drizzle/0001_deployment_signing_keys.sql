CREATE TYPE "public"."signing_key_encryption" AS ENUM('none', 'aes-256-gcm');--> statement-breakpoint
CREATE TYPE "public"."signing_key_status" AS ENUM('active', 'retired');--> statement-breakpoint
CREATE TABLE "deployment_signing_keys" (
	"key_id" text PRIMARY KEY NOT NULL,
	"public_key" text NOT NULL,
	"private_key" text NOT NULL,
	"private_key_encryption" "signing_key_encryption" NOT NULL,
	"status" "signing_key_status" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"retired_at" timestamp with time zone,
	CONSTRAINT "deployment_signing_keys_retired_at" CHECK (("deployment_signing_keys"."status" = 'retired') = ("deployment_signing_keys"."retired_at" is not null))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "deployment_signing_keys_one_active" ON "deployment_signing_keys" USING btree ("status") WHERE "deployment_signing_keys"."status" = 'active';