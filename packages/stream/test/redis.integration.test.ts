// The stream scenarios over Redis Streams on a real broker: `bash tools/services.sh start redis`.
import { runStreamScenarios } from './scenarios.js';

runStreamScenarios({ name: 'redis', url: process.env.WOODWORK_TEST_REDIS_URL, urlVariable: 'WOODWORK_TEST_REDIS_URL' });
