import type { Notification, Notifier } from '../interfaces.js';
import type { Logger } from '../logger.js';

/** Collects notifications in memory (tests), and logs them when given a logger (the host's default). */
export class MemoryNotifier implements Notifier {
  readonly sent: Notification[] = [];
  readonly #logger: Logger | undefined;

  constructor(options: { logger?: Logger } = {}) {
    this.#logger = options.logger;
  }

  async notify(notification: Notification): Promise<void> {
    this.sent.push(notification);
    const log = this.#logger;
    if (!log) return;
    const fields = {
      notification: notification.title,
      companyId: notification.companyId,
      ...notification.data,
    };
    if (notification.level === 'error') log.error(fields, notification.message);
    else if (notification.level === 'warning') log.warn(fields, notification.message);
    else log.info(fields, notification.message);
  }
}
