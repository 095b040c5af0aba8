// The stream scenarios over the embedded memory bus: by reference (the default) and with every
// record serialised, as on a broker. The memory bus keeps its replay log in this process (here
// 64 records a topic, trimmed 1 024 at a time, so up to 64 + 2 048), which the bounded-memory scenario allows for.
import { randomUUID } from 'node:crypto';
import { runStreamScenarios } from './scenarios.js';

runStreamScenarios({ name: 'memory', url: `memory://stream-${randomUUID().slice(0, 8)}?retention=64`, inProcessLogRecords: 64 + 2_048 });
runStreamScenarios({ name: 'memory (serialized)', url: `memory://stream-${randomUUID().slice(0, 8)}?retention=64&serialize=true`, inProcessLogRecords: 64 + 2_048 });
