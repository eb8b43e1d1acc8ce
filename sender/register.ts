/**
 * `node --import ackscope/register app.js`: instruments every TCP socket of an unchanged
 * Node program; records go to the session in ACKSCOPE_SESSION (sender/auto-instrument.ts).
 */
import { autoInstrument } from './auto-instrument.js';

autoInstrument(process.env);
