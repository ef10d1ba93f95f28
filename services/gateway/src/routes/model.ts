/** GET /api/model: what the workers serve — manifest and validation summary (for the page's model card) and, mid-swap, which models. */
import type { FastifyInstance } from 'fastify';
import { ErrorSchema, ModelInfoResponseSchema } from '@gpt2-int8/contract/api';
import { readModelInfo } from '../model-info.js';
import type { Workers } from '../parts.js';

export async function modelRoutes(app: FastifyInstance, deps: { modelDir: string; workers: Workers }): Promise<void> {
  app.get(
    '/api/model',
    {
      schema: {
        tags: ['model'],
        summary: 'The model the workers serve: manifest (sizes, source, quantization, synthetic or not), validation report summary, and which models they serve (two while they swap)',
        response: { 200: ModelInfoResponseSchema, 503: ErrorSchema },
      },
    },
    async (request) => readModelInfo(deps.modelDir, request.log, deps.workers),
  );
}
