// The stream scenarios over Apache Kafka on a real broker: `bash tools/services.sh start kafka`.
import { runStreamScenarios } from './scenarios.js';

runStreamScenarios({ name: 'kafka', url: process.env.WOODWORK_TEST_KAFKA_URL, urlVariable: 'WOODWORK_TEST_KAFKA_URL', timeoutMs: 120_000 });
