/** Every CLI command, one module each. */
import type { CommandModule } from 'yargs'
import { doctorCommand } from './doctor.js'
import { inspectCommand } from './inspect.js'

export const commands: CommandModule<object, any>[] = [doctorCommand, inspectCommand]
