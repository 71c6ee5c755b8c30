// Errors the binding reports through process 'uncaughtException' (a throwing callback, a bad genmask result),
// caught for a test instead of failing the run: the test runner's own listeners are set aside meanwhile.
export interface UncaughtCapture {
  errors: unknown[];
  restore(): void;
}

export function captureUncaught(): UncaughtCapture {
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const errors: unknown[] = [];
  const listener = (err: unknown): void => void errors.push(err);
  process.on('uncaughtException', listener);
  return {
    errors,
    restore() {
      process.off('uncaughtException', listener);
      for (const l of saved) process.on('uncaughtException', l);
    },
  };
}
