import { describe, expect, it } from 'vitest';
import { parseInferArgs, UsageError } from './cli-args.js';

describe('parseInferArgs', () => {
  it('takes a quoted or an unquoted prompt', () => {
    const a = parseInferArgs(['Artificial intelligence is'], {});
    const b = parseInferArgs(['Artificial', 'intelligence', 'is'], {});
    expect(a).toEqual(b);
    expect(a).toEqual({ help: false, args: { prompt: 'Artificial intelligence is', modelDir: 'models/current', topK: 5, threads: 1, runs: 5, json: false } });
  });

  it('reads options, both --x v and --x=v, and the environment', () => {
    const r = parseInferArgs(['--json', '--top-k', '10', '--model-dir=/art', '--threads', '2', '--runs=9', 'Hi'], {});
    expect(r).toEqual({ help: false, args: { prompt: 'Hi', modelDir: '/art', topK: 10, threads: 2, runs: 9, json: true } });
    expect(parseInferArgs(['Hi'], { MODEL_DIR: '/env', WORKER_THREADS: '3' })).toMatchObject({ args: { modelDir: '/env', threads: 3 } });
    expect(parseInferArgs(['--', '--not-an-option'], {})).toMatchObject({ args: { prompt: '--not-an-option' } });
  });

  it('asks for help', () => {
    expect(parseInferArgs(['-h'], {})).toEqual({ help: true });
    expect(parseInferArgs(['x', '--help'], {})).toEqual({ help: true });
  });

  it.each([
    [[], /give a prompt/],
    [['  '], /give a prompt/],
    [['--top-k', '0', 'x'], /--top-k must be a whole number from 1 to 50/],
    [['--top-k', 'x'], /--top-k/],
    [['--top-k'], /--top-k needs a value/],
    [['--model-dir'], /--model-dir needs a directory/],
    [['--bogus', 'x'], /unknown option --bogus/],
    [['--runs', '0', 'x'], /--runs must be a whole number from 1 to 1000/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseInferArgs(argv as string[], {})).toThrow(UsageError);
    expect(() => parseInferArgs(argv as string[], {})).toThrow(message);
  });
});
