// The public surface, picked by hand. Internals stay reachable only through these names.

// the error catalogue: every class but the command line's own (ConfigError, ModuleLoadError)
export {
  AlreadyStartedError,
  type AnswerLimit,
  AnswerTimeoutError,
  AnswerTooLargeError,
  BadAnswerError,
  ClosedError,
  ConnectionExistsError,
  ConnectionNotFoundError,
  ConnectionRefuse,
  DisconnectionRefuse,
  EngineUnavailableError,
  FleetClientClosedError,
  FleetmasterError,
  FleetSecretError,
  FleetSubmitError,
  FleetTaskFailedError,
  H1ClosedError,
  H1ConnectionError,
  H1ConnectTimeoutError,
  H1ParseError,
  isResponseError,
  ListenError,
  MasterChannelInvalidError,
  MasterChannelNotGivenError,
  MasterHostNotAllowedError,
  MasterMasterTokenInvalidError,
  MasterMasterTokenNotGivenError,
  MasterMetricsFailedError,
  MasterQueueFullError,
  MasterReplacedError,
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
  NotStartedError,
  ProcessTaskMissingError,
  QueueUnreachableError,
  RequestFailedError,
  ResponseError,
  ResultHandlerLoadError,
  SlaveAlreadyConnectedError,
  SlaveChannelInvalidError,
  SlaveChannelNotFoundError,
  SlaveConnectionRefusedError,
  SlaveDisconnectionRefusedError,
  SlaveMasterTokenInvalidError,
  SlaveMasterTokenNotFoundError,
  SlaveNotConnectedError,
  SlaveRefusal,
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
  TaskCancelledError,
  TaskEndCode,
  TaskEndedError,
  TaskFail,
  TaskNotIdleError,
  TaskRefuse,
} from './errors.ts';
export { SlaveConnection } from './master/connection.ts';
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
export { Task, TaskStatus } from './master/task.ts';
export type {
  FleetClientOptions,
  FleetClientStats,
  FleetMapOptions,
  FleetSubmitOptions,
  FleetTaskStatus,
} from './nats/fleet-client.ts';
export { FleetClient, FleetTaskHandle } from './nats/fleet-client.ts';
export type { MasterListing, MasterRecord } from './nats/masters.ts';
export type { JetStreamOptions } from './nats/options.ts';
export type { ResultMessage, TaskMessage } from './nats/schema.ts';
export type { Logger, LoggerLike, TlsOptions } from './options.ts';
export { MasterErrorCode, SlaveErrorCode } from './protocol/codes.ts';
export type { Envelope } from './protocol/envelope.ts';
export type { ResolvedSlaveOptions, SlaveHooks, SlaveOptions } from './slave/options.ts';
export { Slave } from './slave/slave.ts';
