import { Controller } from '@nestjs/common';
import type { RotatedSigningKeys, SigningKey, SigningKeyIdParams, SigningKeyList } from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidParams } from '../api/validation.js';
import { AuditService } from '../audit/audit.service.js';
import { routes } from '../openapi/routes.js';
import { SigningService } from './signing.service.js';

/** `/api/v1/signing-keys`: public keys for anyone signed in; rotation and removal for admins. */
@Controller()
export class SigningKeysController {
  constructor(
    private readonly signing: SigningService,
    private readonly audit: AuditService,
  ) {}

  @Route(routes.listSigningKeys)
  async list(): Promise<SigningKeyList> {
    return { items: await this.signing.list() };
  }

  @Route(routes.rotateSigningKey)
  async rotate(): Promise<RotatedSigningKeys> {
    const rotated = await this.signing.rotate();
    this.audit.note({ targetId: rotated.active.keyId, details: { retiredKeyId: rotated.retired?.keyId ?? null } });
    return rotated;
  }

  @Route(routes.removeSigningKey)
  remove(@ValidParams(routes.removeSigningKey) params: SigningKeyIdParams): Promise<SigningKey> {
    return this.signing.remove(params.keyId);
  }
}
