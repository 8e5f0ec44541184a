CREATE TABLE "device_deployments" (
	"device_id" text NOT NULL,
	"version" integer NOT NULL,
	"id" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"signed" jsonb NOT NULL,
	"signature_key_id" text NOT NULL,
	CONSTRAINT "device_deployments_device_id_version_pk" PRIMARY KEY("device_id","version"),
	CONSTRAINT "device_deployments_id_unique" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "device_reported_states" (
	"device_id" text PRIMARY KEY NOT NULL,
	"boot_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"reported_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"desired" jsonb NOT NULL,
	"modules" jsonb NOT NULL
);
