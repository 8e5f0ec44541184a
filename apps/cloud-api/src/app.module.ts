import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ArtifactsModule } from './artifacts/artifacts.module.js';
import { AuthModule } from './auth/auth.module.js';
import { APP_CONFIG, type AppConfig } from './config/config.js';
import { DATABASE, type DatabaseHandle } from './database/database.js';
import { DeploymentsModule } from './deployments/deployments.module.js';
import { DeviceMethodsModule } from './device-methods/device-methods.module.js';
import { DevicesModule } from './devices/devices.module.js';
import { HealthModule } from './health/health.module.js';
import { LOGGER, type Logger } from './logging/logger.js';
import { NATS_CONNECTION, type NatsConnectionService } from './nats/nats-connection.js';
import { NatsIdentityModule } from './nats-identity/nats-identity.module.js';
import { PresenceModule } from './presence/presence.module.js';
import { SigningModule } from './signing/signing.module.js';

export interface AppDependencies {
  config: AppConfig;
  logger: Logger;
  database: DatabaseHandle;
  nats: NatsConnectionService;
}

/**
 * What every feature module may inject: config, logger, database and the NATS connection. They are made (and closed)
 * by createApp, outside Nest, so start-up and shutdown run in a stated order.
 */
@Global()
@Module({})
class CoreModule {}

function coreModule(deps: AppDependencies): DynamicModule {
  const providers = [
    { provide: APP_CONFIG, useValue: deps.config },
    { provide: LOGGER, useValue: deps.logger },
    { provide: DATABASE, useValue: deps.database.db },
    { provide: NATS_CONNECTION, useValue: deps.nats },
  ];
  return { module: CoreModule, providers, exports: providers.map((p) => p.provide) };
}

@Module({})
export class AppModule {}

/** The whole API as one Nest module, wired to dependencies made outside Nest. */
export function appModule(deps: AppDependencies): DynamicModule {
  return {
    module: AppModule,
    imports: [
      coreModule(deps),
      AuthModule,
      HealthModule,
      DevicesModule,
      PresenceModule,
      NatsIdentityModule,
      SigningModule,
      DeploymentsModule,
      ArtifactsModule,
      DeviceMethodsModule,
    ],
  };
}
