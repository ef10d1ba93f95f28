import type { ModelRef } from '@gpt2-int8/contract/api';
import type { Manifest } from '@gpt2-int8/contract/manifest';
import { quantizationLabel } from '@gpt2-int8/contract/quantization-label';
import { ARTIFACT_FILES } from '@gpt2-int8/contract/manifest';

/** What every result says about the model that produced it. */
export function modelRef(manifest: Manifest): ModelRef {
  return {
    sha256: manifest.files[ARTIFACT_FILES.int8].sha256,
    quantization: quantizationLabel(manifest.quantization),
    synthetic: manifest.synthetic,
  };
}
