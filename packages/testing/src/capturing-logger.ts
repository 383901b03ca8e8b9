import type { Logger } from '@impact-in/core';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string | undefined;
}

/** A logger that keeps every entry, so tests can assert what was (and was not) logged. */
export interface CapturingLogger extends Logger {
  readonly entries: LogEntry[];
  /** Everything logged, serialised: search it for secrets that must not be there. */
  text(): string;
}

/**
 * @example
 * const logger = createCapturingLogger();
 * // … run code with it …
 * expect(logger.text()).not.toContain(secret);
 */
export function createCapturingLogger(
  bindings: Record<string, unknown> = {},
  entries: LogEntry[] = [],
): CapturingLogger {
  const write = (level: LogEntry['level']) => (obj: object, msg?: string) => {
    entries.push({ level, fields: { ...bindings, ...(obj as Record<string, unknown>) }, msg });
  };
  return {
    entries,
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => createCapturingLogger({ ...bindings, ...more }, entries),
    text: () =>
      entries
        .map((entry) =>
          JSON.stringify({ level: entry.level, msg: entry.msg, ...entry.fields }, (_key, value) =>
            value instanceof Error ? { message: value.message, stack: value.stack } : value,
          ),
        )
        .join('\n'),
  };
}
