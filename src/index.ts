// The public surface, picked by hand. Internals stay reachable only through these names.

export { FleetSecretError, SlaveConnection } from './master/connection.ts';
export type { PlacementPolicy, SlaveLoad } from './master/fleet/placement.ts';
export { leastLoaded } from './master/fleet/placement.ts';
export type { QueueContext, QueueEntry, QueueFactory, TaskQueue } from './master/fleet/queue.ts';
export type { MapOptions, SubmitOptions } from './master/fleet/submit-options.ts';
export type { NewConnectionOptions } from './master/master.ts';
export { Master } from './master/master.ts';
export type { MasterHooks, MasterOptions, ResolvedMasterOptions } from './master/options.ts';
export type { ResultHandler, ResultHandlerInput } from './master/results/handler.ts';
export type { FleetStatus, MasterStats, SlaveStatus } from './master/status.ts';
export type { NewTaskOptions, TaskCallback } from './master/task.ts';
export { Task, TaskEndCode, TaskEndedError, TaskStatus } from './master/task.ts';
export { QueueUnreachableError } from './nats/connect.ts';
export type {
  FleetClientOptions,
  FleetClientStats,
  FleetMapOptions,
  FleetSubmitOptions,
  FleetTaskStatus,
} from './nats/fleet-client.ts';
export {
  FleetClient,
  FleetClientClosedError,
  FleetSubmitError,
  FleetTaskFailedError,
  FleetTaskHandle,
} from './nats/fleet-client.ts';
export type { MasterListing, MasterRecord } from './nats/masters.ts';
export type { JetStreamOptions } from './nats/options.ts';
export type { ResultMessage, TaskMessage } from './nats/schema.ts';
export type { Logger, LoggerLike, TlsOptions } from './options.ts';
export { MasterErrorCode, SlaveErrorCode } from './protocol/codes.ts';
export type { Envelope } from './protocol/envelope.ts';
export {
  BadAnswerError,
  isResponseError,
  MasterChannelInvalidError,
  MasterChannelNotGivenError,
  MasterMasterTokenInvalidError,
  MasterMasterTokenNotGivenError,
  MasterMetricsFailedError,
  MasterQueueFullError,
  MasterRequestBodyTooLargeError,
  MasterRequestDataInvalidError,
  MasterRequestMalformedError,
  MasterResponseError,
  MasterResultStageBusyError,
  MasterRouteNotFoundError,
  MasterSelfTokenInvalidError,
  MasterSelfTokenNotGivenError,
  MasterSlaveTokenInvalidError,
  MasterSlaveTokenNotGivenError,
  MasterSystemShuttingDownError,
  MasterTaskDataInvalidError,
  MasterTaskNotFoundError,
  RequestFailedError,
  ResponseError,
  SlaveAlreadyConnectedError,
  SlaveChannelInvalidError,
  SlaveChannelNotFoundError,
  SlaveConnectionRefusedError,
  SlaveDisconnectionRefusedError,
  SlaveMasterTokenInvalidError,
  SlaveMasterTokenNotFoundError,
  SlaveNotConnectedError,
  SlaveRequestBodyTooLargeError,
  SlaveRequestDataInvalidError,
  SlaveRequestMalformedError,
  SlaveResponseError,
  SlaveRouteNotFoundError,
  SlaveSelfTokenInvalidError,
  SlaveSelfTokenNotFoundError,
  SlaveSystemShuttingDownError,
  SlaveTaskAlreadyExistError,
  SlaveTaskRefusedError,
  SlaveUploadsBusyError,
} from './protocol/errors.ts';
export {
  ConnectionRefuse,
  DisconnectionRefuse,
  SlaveRefusal,
  TaskFail,
  TaskRefuse,
} from './slave/actions.ts';
export type { ResolvedSlaveOptions, SlaveHooks, SlaveOptions } from './slave/options.ts';
export { Slave } from './slave/slave.ts';
