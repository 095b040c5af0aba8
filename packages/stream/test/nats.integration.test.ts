// The stream scenarios over NATS JetStream on a real broker: `bash tools/services.sh start nats`.
import { runStreamScenarios } from './scenarios.js';

runStreamScenarios({ name: 'nats', url: process.env.WOODWORK_TEST_NATS_URL, urlVariable: 'WOODWORK_TEST_NATS_URL' });
