import { SlaveErrorCode } from '../protocol/codes.ts';

/** Thrown from a slave's hooks to refuse a request; answered as 403 with the refusal's code and data. */
export class SlaveRefusal extends Error {
  readonly code: number;
  readonly statusCode = 403;
  readonly data: unknown;
  constructor(code: number, message: string, data: unknown) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.data = data ?? {};
  }
}

/** Refuse a master's `/connect` from `beforeConnection` (403, code 503). */
export class ConnectionRefuse extends SlaveRefusal {
  constructor(data?: unknown) {
    super(SlaveErrorCode.SLAVE_CONNECTION_REFUSED, 'Connection refused!', data);
  }
}

/** Refuse a master's `/disconnect` from `beforeDisconnection` (403, code 504). */
export class DisconnectionRefuse extends SlaveRefusal {
  constructor(data?: unknown) {
    super(SlaveErrorCode.SLAVE_DISCONNECTION_REFUSED, 'Disconnection refused!', data);
  }
}

/** Refuse a task from `beforeTask` (403, code 602). */
export class TaskRefuse extends SlaveRefusal {
  constructor(data?: unknown) {
    super(SlaveErrorCode.TASK_REFUSED, 'Task refused!', data);
  }
}

/** Thrown from `processTask` to end the task as failed with `result` (sent to the master's fail route). */
export class TaskFail extends Error {
  readonly result: unknown;
  constructor(result?: unknown, message = 'Task process failed.') {
    super(message);
    this.name = 'TaskFail';
    this.result = result ?? {};
  }
}
