import { Controller } from '@nestjs/common';
import type { DeviceModuleParams, ModuleLogs, ModuleLogsQuery, RestartedModule } from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidParams, ValidQuery } from '../api/validation.js';
import { routes } from '../openapi/routes.js';
import { DeviceMethodsService } from './device-methods.service.js';

@Controller()
export class DeviceMethodsController {
  constructor(private readonly methods: DeviceMethodsService) {}

  @Route(routes.getModuleLogs)
  logs(
    @ValidParams(routes.getModuleLogs) params: DeviceModuleParams,
    @ValidQuery(routes.getModuleLogs) query: ModuleLogsQuery,
  ): Promise<ModuleLogs> {
    return this.methods.moduleLogs(params.id, params.module, query);
  }

  @Route(routes.restartModule)
  restart(@ValidParams(routes.restartModule) params: DeviceModuleParams): Promise<RestartedModule> {
    return this.methods.restartModule(params.id, params.module);
  }
}
