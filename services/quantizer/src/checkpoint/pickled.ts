/**
 * Pickled PyTorch checkpoints (`pytorch_model.bin`, `*.pt`, ...) are Python pickles: loading one runs
 * whatever code its author put in it. This project never opens them; it recognises them only to tell
 * the user why their checkpoint was refused and how to get a safetensors copy.
 */

const PICKLE_SUFFIXES = ['.bin', '.pt', '.pth', '.ckpt', '.pkl', '.pickle'];

/** True for file names that are (or are likely to be) pickled checkpoints. */
export function isPickledFileName(name: string): boolean {
  const lower = name.toLowerCase();
  return PICKLE_SUFFIXES.some((s) => lower.endsWith(s));
}

/** The refusal message; `where` is a directory or a hub id, `files` the pickled files found there. */
export function pickledCheckpointMessage(where: string, files: readonly string[]): string {
  return (
    `${where} has only a pickled PyTorch checkpoint (${files.join(', ')}) and no model.safetensors. ` +
    'Pickle files can execute arbitrary code when loaded, so this tool never opens them. ' +
    'Convert it to safetensors on a machine where you trust the file, e.g. ' +
    `python -c "from transformers import AutoModelForCausalLM as M; M.from_pretrained('<dir or repo>').save_pretrained('<out dir>', safe_serialization=True)", ` +
    'then pass the output directory. Many hub repositories also have a safetensors conversion on a pull-request branch: try hf:<repo>@refs/pr/<N>.'
  );
}
