// Tests wait for a state, never for a duration: a loaded machine makes any fixed sleep either
// too short (flaky) or too long (slow).

/**
 * Polls `cond` until it holds; past `timeoutMs`, fails saying `what` was awaited (a function
 * is called then, so the message can show the state reached). An error thrown by `cond` ends
 * the wait with that error.
 */
export async function waitFor(what: string | (() => string), cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
