import { parseArgs } from "node:util";
import { positionals } from "./cli-options.js";
import { UsageError } from "./usage-error.js";

/** The text of `corrbus completion --help`. */
export const completionHelp = `Usage: corrbus completion bash [options]

Prints a bash completion script for the corrbus command (on the PATH after
npm link): command names, then each command's options (and verify|dump for
journal). Load it in the current shell or install it for every new one.

Options:
  -h, --help          this text

Exit codes: 0 printed, 2 usage (a shell other than bash).

Examples:
  source <(corrbus completion bash)
  corrbus completion bash > ~/.local/share/bash-completion/completions/corrbus
`;

/**
 * `corrbus completion bash`. The options come from each command's --help
 * text (`helps`), so the script offers exactly what the help lists.
 */
export async function completionCommand(args: string[], helps: Record<string, string>): Promise<number> {
  const { values, positionals: given } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    process.stdout.write(completionHelp);
    return 0;
  }
  const [shell] = positionals(given, ["SHELL"]);
  if (shell !== "bash") throw new UsageError(`"${shell}" is not a shell this command writes completion for: bash`);
  process.stdout.write(bashCompletion(helps));
  return 0;
}

/** The long options a help text lists (`  --name …` at the start of a line, or after `-h, `). */
export function helpOptions(help: string): string[] {
  const options = new Set<string>();
  for (const match of help.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z0-9-]*)/gm)) options.add(match[1]);
  return [...options];
}

function bashCompletion(helps: Record<string, string>): string {
  const names = Object.keys(helps);
  const cases = names.map((name) => {
    const words = [...(name === "journal" ? ["verify", "dump"] : name === "completion" ? ["bash"] : []), ...helpOptions(helps[name])];
    return `    ${name}) words="${words.join(" ")}" ;;`;
  });
  return `# bash completion for corrbus (corrbus completion bash)
_corrbus() {
  local current="\${COMP_WORDS[COMP_CWORD]}" words
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${names.join(" ")} --help" -- "$current"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join("\n")}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$current"))
}
complete -o default -F _corrbus corrbus
`;
}
