/** GET /api/model: what is loaded — manifest and validation summary (for the page's model card). */
import type { FastifyInstance } from 'fastify';
import { ErrorSchema, ModelInfoResponseSchema } from '@gpt2-int8/shared/api';
import { readModelInfo } from '../model-info.js';

export async function modelRoutes(app: FastifyInstance, deps: { modelDir: string }): Promise<void> {
  app.get(
    '/api/model',
    {
      schema: {
        tags: ['model'],
        summary: 'The model artifact: manifest (sizes, source, quantization, synthetic or not) and validation report summary',
        response: { 200: ModelInfoResponseSchema, 503: ErrorSchema },
      },
    },
    async (request) => readModelInfo(deps.modelDir, request.log),
  );
}
