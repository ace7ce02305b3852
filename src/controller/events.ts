import type { Logger } from "pino";
import { describeError } from "../errors.js";
import type { Clock } from "../runtime/clock.js";
import type { ControllerKubeApi } from "./kube-api.js";

/** The object an event is about. */
export interface EventSubject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/**
 * Records core/v1 Events (what `kubectl describe` shows). The same event for the same object is
 * not repeated within `dedupeWindowMs` (default 10 minutes), so a resource that stays broken does
 * not flood the namespace. Failing to record is logged, never thrown: events are advisory.
 */
export class EventRecorder {
  readonly #recent = new Map<string, number>();

  constructor(
    private readonly kube: Pick<ControllerKubeApi, "createEvent">,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly component = "modelpack-operator",
    private readonly dedupeWindowMs = 600_000,
  ) {}

  async record(
    subject: EventSubject,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const key = `${subject.namespace}/${subject.name} ${type} ${reason} ${message}`;
    const now = this.clock.now();
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < this.dedupeWindowMs) return;
    this.#recent.set(key, now);
    if (this.#recent.size > 10_000) this.#recent.delete(this.#recent.keys().next().value ?? "");
    const timestamp = new Date(now).toISOString();
    try {
      await this.kube.createEvent(subject.namespace, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { generateName: `${subject.name}.`, namespace: subject.namespace },
        involvedObject: {
          apiVersion: subject.apiVersion,
          kind: subject.kind,
          namespace: subject.namespace,
          name: subject.name,
          ...(subject.uid !== undefined && { uid: subject.uid }),
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: this.component },
        reportingComponent: this.component,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        count: 1,
      });
    } catch (err) {
      this.logger.warn(
        { err: describeError(err), reason, namespace: subject.namespace, name: subject.name },
        "could not record event",
      );
    }
  }
}
