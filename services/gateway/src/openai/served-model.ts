/**
 * The model /v1 serves, under a stable id derived from the artifact in MODEL_DIR: its source's name
 * (the last part of the hub id or checkpoint path, without an .onnx extension) and "-int8", e.g.
 * `distilgpt2-int8`. A request naming another model is a 404 model_not_found. The manifest is
 * read at most once a second (it changes only when a new artifact is published).
 */
import { basename } from 'node:path';
import { ArtifactError, type Manifest, readManifest } from '@gpt2-int8/contract/manifest';
import { OpenAIError } from './openai-error.js';

export interface ServedModel {
  id: string;
  /** Epoch seconds: when the artifact was made. */
  created: number;
  manifest: Manifest;
}

export function modelIdOf(manifest: Manifest): string {
  const name = basename(manifest.source.id.replace(/[\\/]+$/, '')).replace(/\.onnx$/i, '');
  const clean = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'gpt2';
  return `${clean}-int8`;
}

const CACHE_MS = 1000;

export class ServedModels {
  private cached: { at: number; model: Promise<ServedModel> } | undefined;

  constructor(private readonly modelDir: string) {}

  /** The served model; a 503 when MODEL_DIR holds no usable artifact. */
  current(): Promise<ServedModel> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < CACHE_MS) return this.cached.model;
    const model = readManifest(this.modelDir).then(
      (manifest): ServedModel => ({ id: modelIdOf(manifest), created: Math.floor(Date.parse(manifest.created_at) / 1000), manifest }),
      (err: unknown) => {
        if (this.cached?.model === model) this.cached = undefined;
        if (err instanceof ArtifactError) {
          throw new OpenAIError(503, 'No model artifact is available yet (the quantizer has not finished, or its output is invalid)', 'server_error', null, 'no_model', 5);
        }
        throw err;
      },
    );
    this.cached = { at: now, model };
    return model;
  }

  /** The served model if `id` names it, else 404 model_not_found (OpenAI's wording). */
  async named(id: string, param: string | null = 'model'): Promise<ServedModel> {
    const model = await this.current();
    if (id !== model.id) {
      throw new OpenAIError(404, `The model \`${id.slice(0, 200)}\` does not exist; this server serves \`${model.id}\` (GET /v1/models)`, 'invalid_request_error', param, 'model_not_found');
    }
    return model;
  }
}
