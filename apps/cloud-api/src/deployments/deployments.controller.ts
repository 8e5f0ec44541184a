import { Body, Controller } from '@nestjs/common';
import type {
  DeviceDeploymentState,
  GetDeviceRequest,
  PutDeploymentQuery,
  PutDeploymentResponse,
} from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidParams, ValidQuery } from '../api/validation.js';
import { routes } from '../openapi/routes.js';
import { DeploymentsService } from './deployments.service.js';

@Controller()
export class DeploymentsController {
  constructor(private readonly deployments: DeploymentsService) {}

  /**
   * The body is read as it came: `{ manifest }`, or an Azure deployment with ?format=azure. validateManifest (or the
   * Azure import) checks it and names every problem, which a schema on the body could not do for both forms.
   */
  @Route(routes.putDeviceDeployment)
  put(
    @ValidParams(routes.putDeviceDeployment) params: GetDeviceRequest,
    @ValidQuery(routes.putDeviceDeployment) query: PutDeploymentQuery,
    @Body() body: unknown,
  ): Promise<PutDeploymentResponse> {
    return this.deployments.put(params.id, body, query);
  }

  @Route(routes.getDeviceDeployment)
  get(@ValidParams(routes.getDeviceDeployment) params: GetDeviceRequest): Promise<DeviceDeploymentState> {
    return this.deployments.get(params.id);
  }
}
