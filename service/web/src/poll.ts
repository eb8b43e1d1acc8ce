/**
 * Polls while the tab is visible: `tick` runs every `intervalMs` (after the previous one
 * finished, so a slow reply never piles up requests), pauses while the tab is hidden and
 * runs at once when it shows again. Polling rather than server-sent events: an
 * EventSource cannot send the Authorization header the service may require.
 * Returns the function that stops it; `tick` returning false stops it too.
 */
export function poll(intervalMs: number, tick: () => Promise<boolean | void>): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let running = false;
  const schedule = () => {
    if (stopped || document.visibilityState !== 'visible' || timer !== null || running) return;
    timer = setTimeout(run, intervalMs);
  };
  const run = async () => {
    timer = null;
    if (stopped || document.visibilityState !== 'visible') return;
    running = true;
    let more: boolean | void = true;
    try {
      more = await tick();
    } catch {
      // a failed poll (service restarting) is retried at the next tick
    } finally {
      running = false;
    }
    if (more === false) stopped = true;
    schedule();
  };
  const onVisibility = () => {
    if (document.visibilityState === 'visible' && timer === null && !running) void run();
    else if (timer !== null && document.visibilityState !== 'visible') {
      clearTimeout(timer);
      timer = null;
    }
  };
  document.addEventListener('visibilitychange', onVisibility);
  schedule();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}
