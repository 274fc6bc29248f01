/** Every CLI command, one module each. */
import type { CommandModule } from 'yargs'
import { doctorCommand } from './doctor.js'
import { inspectCommand } from './inspect.js'
import { serveCommand } from './serve.js'
import { trainCommand } from './train.js'
import { sftCommand } from './sft.js'
import { evalCommand } from './eval.js'
import { plotCommand } from './plot.js'
import { initModelCommand } from './init-model.js'
import { generateCommand } from './generate.js'
import { viewCommand } from './view.js'

export const commands: CommandModule<object, any>[] = [doctorCommand, inspectCommand, serveCommand, trainCommand, sftCommand, evalCommand, plotCommand, initModelCommand, generateCommand, viewCommand]
