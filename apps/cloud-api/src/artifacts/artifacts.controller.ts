import type { IncomingMessage, ServerResponse } from 'node:http';
import { Controller, Req, Res } from '@nestjs/common';
import { OutpostError, type UploadArtifactQuery, type UploadedArtifact } from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidQuery } from '../api/validation.js';
import { AuditService } from '../audit/audit.service.js';
import { routes } from '../openapi/routes.js';
import { ArtifactsService } from './artifacts.service.js';

const OCTET_STREAM = 'application/octet-stream';

@Controller()
export class ArtifactsController {
  constructor(
    private readonly artifacts: ArtifactsService,
    private readonly audit: AuditService,
  ) {}

  /** The body is the artifact itself, streamed: no body parser reads application/octet-stream. */
  @Route(routes.uploadArtifact)
  async upload(
    @ValidQuery(routes.uploadArtifact) query: UploadArtifactQuery,
    @Req() request: IncomingMessage,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<UploadedArtifact> {
    try {
      return await this.receive(query, request);
    } catch (err) {
      // Refused before the whole body arrived (413, 400): close the connection after the error instead of reading
      // the rest, so a client cannot keep streaming into a refused upload, nor reuse a socket with bytes still in it.
      if (!request.complete) response.setHeader('connection', 'close');
      throw err;
    }
  }

  private async receive(query: UploadArtifactQuery, request: IncomingMessage): Promise<UploadedArtifact> {
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (contentType !== OCTET_STREAM) {
      throw new OutpostError('BAD_REQUEST', `Send the artifact as ${OCTET_STREAM}`, [
        { path: 'content-type', message: `must be ${OCTET_STREAM}, got ${contentType || 'none'}` },
      ]);
    }
    const length = request.headers['content-length'];
    const uploaded = await this.artifacts.upload(
      query.name,
      request,
      length === undefined ? undefined : Number(length),
    );
    this.audit.note({ targetId: uploaded.object, details: { sha256: uploaded.sha256, size: uploaded.size } });
    return uploaded;
  }
}
