/**
 * Runs one phase's chain of hooks in order; stays synchronous while the hooks are (no promise,
 * no await for a synchronous hook). The first exit stops the chain; for content, the first value.
 */
import type { CompiledHook } from "../compile/plan.js";
import { type EngineContext, type HookResult, isExit } from "./context.js";

/** A hook threw (or rejected): the request's one error exit names it in the log line. */
export class HookError extends Error {
  readonly hook: string;
  readonly original: unknown;
  constructor(hook: string, original: unknown) {
    super(`hook ${hook} threw`, { cause: original });
    this.hook = hook;
    this.original = original;
  }
}

export function runChain(chain: readonly CompiledHook[], ctx: EngineContext, stopOnValue: boolean, from = 0): HookResult | Promise<HookResult> {
  for (let i = from; i < chain.length; i++) {
    const hook = chain[i] as CompiledHook;
    let result: HookResult | Promise<HookResult>;
    try {
      result = hook.run(ctx);
    } catch (error) {
      throw new HookError(hook.label, error);
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => (isExit(value) || (stopOnValue && value !== undefined) ? value : runChain(chain, ctx, stopOnValue, i + 1)),
        (error: unknown) => {
          throw new HookError(hook.label, error);
        },
      );
    }
    if (isExit(result) || (stopOnValue && result !== undefined)) return result;
  }
  return undefined;
}
