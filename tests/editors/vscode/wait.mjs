// Polling with a deadline: the tests wait for what they expect, never for a fixed time.

export async function waitFor(what, timeoutMs, probe, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) {
        return value;
      }
    } catch (e) {
      if (e?.fatal || /exited with/.test(String(e?.message))) {
        throw e;
      }
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
