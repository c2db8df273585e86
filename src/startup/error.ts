/** A start that cannot go on, said in one line for the operator (port in use, data root locked, failed upgrade). */
export class StartupError extends Error {}
