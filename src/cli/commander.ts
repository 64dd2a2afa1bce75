/**
 * Commander, loaded with require(). It is a CommonJS package: imported as an ES module, Node 20
 * first parses its sources with cjs-module-lexer to find the names it exports, which made
 * loading it about twice as slow as requiring it, a noticeable share of every `procwatch` start
 * (issue 16, BENCHMARKS.md "CLI start"). The command modules import it from here.
 */

import { createRequire } from 'node:module';
import type * as CommanderModule from 'commander';

const commander = createRequire(import.meta.url)('commander') as typeof CommanderModule;

export const { Command, Option, CommanderError } = commander;
export type Command = CommanderModule.Command;
export type Option = CommanderModule.Option;
export type CommanderError = CommanderModule.CommanderError;
export type Argument = CommanderModule.Argument;
