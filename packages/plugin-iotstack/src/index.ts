// Domain API of the IOTstack plugin (the commands are thin wrappers around these).
export {
  type BackupOptions,
  type BackupResult,
  type BackupType,
  backupStack,
  planBackup,
  upcomingName,
} from './backup.js'
export {type ComposeProject, type ComposeService, loadComposeProject} from './compose-file.js'
export {type DatabaseService, type Engine, findDatabaseServices} from './database-services.js'
export {ComposeDriver} from './docker-compose.js'
export {type ExampleStack, type ExampleStackOptions, makeExampleStack} from './example.js'
export {pendingCommits, stackStore} from './list.js'
export {DATED_NAMING, ROLLING_NAMING} from './naming.js'
export {recoverStack} from './recover.js'
export {type RestoreOptions, type RestorePlan, type RestoreResult, StackRestore} from './restore.js'
export {STACK_MEMBERS} from './stack.js'
export {type VerifyResult, verifyBackup} from './verify.js'
