// The broker's public entry point: run it embedded or through `corrbus serve`.
export { startBrokerServer } from "./broker-server.js";
export type { BrokerServer, BrokerServerOptions } from "./broker-server.js";
export { isNamedPipePath, SocketPathError } from "./socket-path.js";
export { defaultSocketPath } from "../wire/default-socket-path.js";
export { createLogger, silentLogger } from "./logger.js";
export type { Logger, LogLevel } from "./logger.js";
export { defaultBrokerLimits } from "../core/validation/broker-limits.js";
export type { BrokerLimits } from "../core/validation/broker-limits.js";
export { CorrelationBroker } from "../core/correlation-broker.js";
