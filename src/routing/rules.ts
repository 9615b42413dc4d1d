import type { RouteKind } from "./types.js";

/**
 * The hand-written routing rules (the router's only classifier before the learned model).
 * {@link classifyTurn} combines them with the learned model; they stay useful on their own
 * for structural code signals (fences, stack traces, syntax) and as a baseline in the bench.
 */

/** What {@link classifyByRules} decided: the kind of turn and the rule that matched. */
export interface RuleClassification {
  kind: RouteKind;
  /** Short name of the rule that matched, e.g. `"simple: timer action"`. */
  reason: string;
}

/** Only this many characters are scanned, so a huge paste cannot make routing slow. */
const MAX_SCAN = 4000;

// ---------------------------------------------------------------------------
// Code: structural signals, checked on the raw text.
//
// These run on up to MAX_SCAN characters of what the user typed, so no part of them may
// backtrack more than linearly: a line's indentation is `[^\S\r\n\u2028\u2029]` (a blank that
// does not end the line; `\s` would run on over every following line, from every line start),
// and no two quantifiers in a row may match the same characters (`SELECT\s+[\w\s]+\s+FROM`
// took 21 s on "select" and 4,000 spaces). A part that must run over line ends (a SELECT's column
// list, over several lines) is bounded (`{0,200}`): unbounded, every line that starts with
// "select" ran on to the end of the text and back (4,000 characters of "select" lines: 15 ms).
// ---------------------------------------------------------------------------

const FENCE = /```|~~~/;
const STACK_TRACE =
  /Traceback \(most recent call last\)|^[^\S\r\n\u2028\u2029]+at (?:[\w$.<>]+(?: \(?|\()|[\w$.<>])[^\s()]+:\d+(?::\d+)?\)?[^\S\r\n\u2028\u2029]*$|^[^\S\r\n\u2028\u2029]*File "[^"]+", line \d+|Exception in thread "|^[^\S\r\n\u2028\u2029]*at [\w$.]+\([\w$]+\.java:\d+\)|panicked at |\bSegmentation fault\b|\bcore dumped\b|^[^\S\r\n\u2028\u2029]*#\d+ 0x[0-9a-f]+ in /im;
const ERROR_NAME =
  /\b(?:[A-Z][a-z]+)*(?:Error|Exception)\b(?::|\s+(?:at|in|on|when|while|thrown|raised)\b)|\b(?:TypeError|SyntaxError|ReferenceError|RangeError|ValueError|KeyError|IndexError|AttributeError|ImportError|ModuleNotFoundError|NameError|ZeroDivisionError|NullPointerException|ClassNotFoundException|IllegalArgumentException|StackOverflowError|OutOfMemoryError|ENOENT|EADDRINUSE|ECONNREFUSED|EACCES|SIGSEGV|SIGKILL|npm ERR!|error TS\d+|E\d{4}\b(?=:)|errno)\b|undefined is not (?:a function|an object)|cannot read propert(?:y|ies) of (?:undefined|null)|is not defined\b|unexpected token|segfault|stack ?overflow error|cannot find module|module not found|command not found|no such file or directory|is not recognized as an internal or external command|failed to compile|build failed|undefined reference to|cannot resolve symbol|unresolved import|permission denied \(publickey\)|merge conflict|non-fast-forward|not assignable to|exit(?:ed)? (?:with )?(?:status|code) \d+/;
/** Lines that look like source code: statements, declarations, markup, shell prompts. */
const SYNTAX_LINE =
  /^[^\S\r\n\u2028\u2029]*(?:(?:export\s+)?(?:const|let|var|function|class|interface|enum|type)\s+[A-Za-z_$][\w$]*\s*[=({<:]|def\s+\w+\s*\(|(?:public|private|protected|static)\s+[\w<>[\]]+\s+\w+\s*\(|import\s+[\w{*](?:[^\n]*\S)?\s+from\s+['"]|from\s+[\w.]+\s+import\s+\w|#include\s*[<"]|package\s+[\w.]+;|using\s+[\w.]+;|fn\s+\w+\s*\(|func\s+\w+\s*\(|(?:if|for|while|switch)\s*\(.*\)\s*\{|return\s+(?:[^\s;][^\n]*)?;|console\.log\(|print\(|System\.out\.|SELECT\s+[\w*,.][\w*,\s.]{0,200}\sFROM\s+\w|(?:INSERT\s+INTO|UPDATE\s+\w+\s+SET|CREATE\s+TABLE|DELETE\s+FROM)\s|<\/?[a-z][\w-]*(?:\s+[\w-]+="[^"]*")*\s*\/?>|\$\s+(?:npm|npx|yarn|pnpm|git|docker|pip|python3?|node|cargo|go|make|sudo|cd|ls|curl|kubectl)\s)/im;
/** Inline code-ish tokens: `a.b(c)`, `x => y`, `arr[0]`, `foo();`, `} else {`. */
const SYNTAX_TOKEN =
  /\b[a-zA-Z_$][\w$]{0,63}\.[a-zA-Z_$][\w$]{0,63}\([^)\n]{0,80}\)|=>|\)\s*;\s*$|\}\s*else\s*\{|\b\w+\[\d+\]|\b[a-z]+_[a-z_]+\(|!==|===|&&|\|\||::|->\s*\w|`[^`\n]+`|\b[A-Za-z_][\w$]{0,63}\((?!s\)|es\)|ies\))[\w$'".,\s*+-]{0,40}\)(?=\s*(?:[;:.{]|$|\n|\s+\w))|\bfor \w+ in (?:range|enumerate|zip)\b/m;

// ---------------------------------------------------------------------------
// Greetings, thanks, closers and addressing ("hey zoe,").
// ---------------------------------------------------------------------------

/** One social token at the start of the normalised text (after the address and fillers). */
const GREETING_HEAD = new RegExp(
  "^(?:" +
    [
      // openers
      "h+i+y*a*|hey+a*|hey there|hi there|hello+|hel+o+|helo|hallo|hullo|howdy|yo+|hiya|heya|sup|wass?up|whaddup|greetings|salutations|ahoy",
      "good\\s*(?:morning|mornin|afternoon|evening|day|night)|g'?day|morning|mornin|evening|afternoon|gm|gn",
      "(?:i )?hope (?:your (?:day|morning|week|weekend|evening|night|trip|holiday)|(?:you|all|everything)) (?:(?:is|was|went|has been|have been|'?ve been|are|'?re|is going|'?s going|had|having) )?(?:\\w+ ){0,2}(?:well|good|great|fine|ok|okay|nicely|smoothly|lovely)|(?:i )?hope (?:you'?re|you are|you'?ve been|your day'?s?|your day is|all is|everything is|you'?re having|you are having)(?: (?:well|ok|okay|good|great|fine|doing well|going well|having a (?:good|great|nice) (?:day|one|week)|a (?:good|great|nice) (?:day|one|week)))?|(?:good|nice|great|lovely) to (?:see|hear from|meet|talk to|chat with|have) you(?: again| back)?|(?:it was |it'?s |was )?(?:nice|good|great|lovely|fun) (?:talking|chatting|speaking) (?:to|with) you|what'?s up|what'?s good|whats good|how (?:are|r) (?:you|u|ya)(?: doing| today| doing today| this (?:morning|evening))*|how'?s (?:it going|everything|your day|life)|how are things|how have you been|how (?:you|u) doin'?g?|how do you do|nice to (?:meet|see) you|long time no see|you there|are you there|anybody (?:there|home)",
      // thanks
      "(?:thanks?(?: (?:yo+u+|u+|ya+))?|thx|thnx|thanx|tnx|ty|tysm|tyvm|thank u)(?: (?:so|very) much| a (?:lot|bunch|ton|million)| again| heaps| loads| tons)*|cheers|much appreciated|appreciate (?:it|that|you)|i appreciate (?:it|that|you|your help)|many thanks|gracias|muchas gracias|merci(?: beaucoup)?|danke(?: schon| sehr)?|vielen dank|grazie|obrigad[oa]",
      // closers
      "(?:good)?bye+(?: bye)?|bye now|farewell|see (?:you|ya|u)(?: later| soon| tomorrow| around| next time| tonight)?|see you in a bit|catch you later|later|laters|cya|ttyl|talk (?:to you )?(?:later|soon|tomorrow)|take care|have a (?:good|nice|great|lovely|wonderful) (?:one|day|night|evening|weekend|morning|afternoon)|good night|g'?night|nighty?[- ]night|nite(?: nite)?|night night|sweet dreams|sleep well|i'?m off|gotta go|got to go|i have to go|signing off",
      // other languages
      "bonjour|bonsoir|salut|coucou|bonne (?:nuit|journee|soiree)|au revoir|a bientot|a plus|hola|buen(?:os|as) (?:dias|tardes|noches)|buen dia|adios|hasta (?:luego|pronto|manana)|que tal|guten (?:morgen|tag|abend)|gute nacht|hallo|servus|moin|tschuss|tschus|auf wiedersehen|bis (?:spater|bald|morgen)|wie geht'?s|ciao|ola|ca va|comment ca va|como estas",
      // small affirmations that only count alongside a greeting
    ].join("|") +
    ")\\b",
);

/** Fillers stripped around greetings; on their own they are not a greeting. */
const FILLER_HEAD =
  /^(?:ok(?:ay)?|okey|k|alright|all right|cool|great|awesome|perfect|nice|sweet|lovely|wonderful|amazing|brilliant|excellent|got it|gotcha|sure|yes|yeah|yep|yup|no|nope|oh|ah|well|so|and|but|um+|uh+|hmm+|again|so much|very much|a lot|for (?:that|this|the help|your help|everything|all (?:your|the) help|helping(?: me)?)|you'?re (?:the best|awesome|amazing|a star|a lifesaver|a legend|a gem|so helpful|very helpful|too kind|welcome)|you'?ve been (?:very |so |super |really )?helpful|you too|same to you|dear|my friend|buddy|pal|mate|friend|everyone|all|there|sunshine|beautiful|gorgeous|darling|sweetie|hun|babe|love|you|u|ya|too|as well|my dear|man|dude|lol|haha+|hehe+|:\)|:d|<3|for now|world|folks|guys|y'?all|team|that'?s (?:perfect|great|awesome|exactly what i (?:needed|wanted)|helpful|very helpful|super helpful|brilliant|amazing|wonderful|lovely|fantastic|all(?: for now)?|it(?: for now)?|fine|good|cool)|(?:that|this|it|you) (?:helped|helps|was (?:very |so |super |really )?helpful|works|worked)(?: a lot| so much| loads| a ton)?|(?:great|good|nice) (?:job|work)|well done|have a good one)\b/;

/** Addressing the assistant by name or wake word. */
const ADDRESS_HEAD = /^(?:(?:hey|hi|ok(?:ay)?|yo|hello|dear)\s+)?(?:zoe|zoey|zoé|assistant|bot)\b/;

const SEPARATORS = /^[\s,.;:!?¡¿\-–—~*()"'/\\|]+/;

// ---------------------------------------------------------------------------
// Code topics (no syntax in the text, but about programming).
// ---------------------------------------------------------------------------

/** Words that mean programming on their own. */
const CODE_STRONG =
  /(?<!\b(?:ball|burmese|reticulated|royal|pet|rock|monty|giant|big|african|indian|green tree|carpet) )\bpython\b(?! (?:snakes?|eats?|ate|bites?|skin|lives?|swallow\w*|in the wild|at the zoo))|(?<!\bwith )\bvim\b(?! and vigou?r)|\bdjango\b(?! unchained)|\b(?:javascript|typescript|kotlin|golang|rustlang|csharp|php|ruby on rails|haskell|clojure|lua|fortran|cobol|matlab|zsh|powershell|shell script|bash script|sql|mysql|postgres(?:ql)?|sqlite|mongodb|redis|graphql|html|css|scss|json|yaml|xml|regexp?|regex(?:es)?|regular expressions?|vue\.?js|next\.?js|node\.?js|nodejs|deno|express\.?js|fastapi|spring boot|laravel|jquery|numpy|pytorch|tensorflow|webpack|eslint|tsconfig|npm|pnpm|virtualenv|venv|gradle|git|github|gitlab|docker(?:file)?|kubernetes|k8s|kubectl|ansible|nginx|aws lambda|ci\/cd|vs ?code|emacs|intellij|jupyter|leetcode|stack ?overflow|transpil(?:e|er|ing)|debug(?:ger|ging)?|refactor(?:ing)?|linter|linting|unit tests?|codebase|source code|code review|pull request|merge conflict|rebase|commit message|segfaults?|null pointer|stack trace|traceback|syntax error|runtime error|compile error|compiler error|recursion|recursive function|big[- ]o|time complexity|space complexity|binary search|linked lists?|hash ?maps?|hash ?tables?|dictionary comprehension|list comprehension|data structures?|rest api|apis?|api endpoints?|sdk|cli|command line|terminal command|bash command|cron ?jobs?|crontab|localhost|http requests?|cors|oauth|jwt|websockets?|async\/await|async functions?|integer overflow|floating point|structs?|enums?|polymorphism|object[- ]oriented|oop|functional programming|programming|programmer|coding|coder|code snippet|frontend|backend|front-end|back-end|devops|stdout|stderr|stdin|unix|vba|excel formula|spreadsheet formula|arduino|raspberry pi|firmware|memory leak|race condition|off-by-one|js|py|cpp|csv|tsv|binary tree|sorting algorithm|bubble sort|quicksort|merge sort|fizzbuzz|hello[ ,]*world|divs?|flexbox|css grid|navbar|iframe|href|jsx|tsx|npm package|react (?:hooks?|components?|app|native|router|state)|usestate|useeffect|usememo|jsonb?|dataframe|abstract class(?:es)?|(?:get|post|put|patch|delete) requests?|fetch api|tests? (?:pass|fail)\w*|borrow checker|(?:revert|undo|amend|squash|cherry-pick|push|reset|rebase)\b[^.?!]{0,20}\bcommits?|dependency injection|design patterns?|singleton pattern|microservices?|mvc|orm|(?:in|on|the) ci|ci (?:pipeline|build|server|job|run)s?|unit testing|type hints?|api key|env var(?:iable)?s?|environment variables?|stack overflow|pip install|for loop|while loop|if statement|switch statement|boolean|substring|variable names?|function names?|ide|sdk|ssh|ssl cert(?:ificate)?|dns record|ip address(?:es)? in|port \d+|sudo|chmod|grep|wget|bash alias|\.env|src\/\w+|\w+\.(?:js|ts|tsx|jsx|py|rb|go|rs|java|kt|cs|cpp|php|sh|yml|yaml|toml|lock|json|html|css|sql|md))\b|\b(?:c\+\+|c#|f#)(?!\w)|(?<!zip |dress |promo |discount |area |postal |post |qr |morse |cheat |bar |country |tax |building |secret |access |coupon |gift |voucher |verification |confirmation |security |pin |door |garage |lock |reference |cancellation |booking |error |colou?r |hex |airport |tracking |activation |invite |invitation |referral |sort |swift |iban |routing |dialling |dialing |calling |the )\bcod(?:e|es|ed|ing)\b(?! of (?:conduct|ethics|honou?r|practice|silence)| words?| red| blue| name)/;

/** Words that are programming only next to other technical words ("rust", "react", "pointers"). */
const CODE_WEAK =
  /\b(?:java|rust|ruby|dart|perl|rails|apache|pip|cargo|yarn|pandas|node|react|angular|compiler?|compiling|callbacks?|closures?|variables?|inheritance|generics|pointers?|arrays?|algorithms?|library|libraries|framework|interface|dependency|dependencies|deploy(?:ment|ing|ed)?|macros?|bugs?|buggy|scripts?|repo|repository|deadlock|crash(?:es|ed|ing)?|terminal|test cases?|hooks?|props|dom|span|bootstrap|functions?|methods?|class(?:es)?|loops?|strings?|objects?|query|queries|database|server|exceptions?|syntax|runtime|commit|branch|install(?:ed|ing)?|uninstall|package|modules?|parse|parsing|tuples?|dictionar(?:y|ies)|integers?|null|undefined|threads?|async|malloc|recursion|iterate|implement(?:ation)?|instantiate|initiali[sz]e|declare|refactor|debug|idiomatic|developer|component|console|output|returns?|file|files|api|app|error|errors|lambda|ownership|lifetimes?|revert|url|urls|fetch|curl|vite|babel|prettier|jenkins|scala|elixir|bash|sass|vue|svelte|django|flask|maven|terraform|vim|tailwind|crud|singleton|snippet|endpoints?|(?:in|using) (?:c|go|r|golang))\b/g;

/** Weak words that are also ordinary English and never count as the first signal. */
const CODE_WEAK_ORDINARY =
  /^(?:returns?|output|file|files|app|errors?|ownership|lifetimes?|revert|fetch|url|urls|curl|vite|babel|prettier|jenkins|scala|elixir|bash|sass|vue|svelte|maven|terraform|vim|tailwind|crud|singleton|snippet|endpoints?|console|developer|install(?:ed|ing)?|branch|commit|null|package|crash(?:es|ed|ing)?|class(?:es)?|objects?|strings?|loops?|span|terminal|interface|framework|library|libraries|dictionar(?:y|ies)|integers?|implement(?:ation)?|declare|component)$/;

/** Non-programming uses of otherwise technical words (a film script, a yoga class). */
const CODE_EXCLUDE =
  /\b(?:script for (?:a |my |the |our )?(?:video|youtube|tiktok|movie|film|play|podcast|speech|skit|commercial|ad|presentation|wedding)|(?:movie|film|video|youtube|tiktok|podcast|play) script|yoga class|dance class|cooking class|art class|fitness class|class reunion|(?:stomach|tummy|bed|flu) bugs?|bug (?:bite|spray)|public library|library card|library book|rust (?:off|stain|from)|ruby (?:ring|necklace|slippers)|lymph nodes?|react (?:to|when|if)|crash (?:course|diet|on (?:my|your|the) (?:couch|sofa))|car crash|plane crash|market crash|stock market)\b/;

/** "write a function that…", "implement an algorithm for…": a code deliverable on its own. */
const CODE_REQUEST =
  /\b(?:write|implement|code|create|make|give me|show me|generate)\s+(?:me\s+)?(?:a|an|the|some)\s+(?:\w+\s+){0,2}?(?:function|method|algorithm|regex|query|sql query|loop|script (?:that|to|which)|program (?:that|to|which)|class (?:that|to|which|for (?:a|an|the)\b)|unit test|test suite|api|endpoint|cli|bot (?:that|to|which))\b/;

/**
 * True when two different technical words appear together ("my react app crashes",
 * "a loop over strings"). The first one must not be an everyday word on its own.
 */
function weakCodeTopic(t: string): boolean {
  if (CODE_EXCLUDE.test(t)) return false;
  CODE_WEAK.lastIndex = 0;
  let first: string | undefined;
  let anchored = false;
  let m: RegExpExecArray | null;
  while ((m = CODE_WEAK.exec(t)) !== null) {
    const w = m[0];
    if (!CODE_WEAK_ORDINARY.test(w)) anchored = true;
    if (first === undefined) first = w;
    else if (w !== first && anchored) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Simple: device/app actions and quick lookups.
// ---------------------------------------------------------------------------

interface Rule {
  re: RegExp;
  reason: string;
}

const TIMER = "(?:timer|timmer|timr|tiemr|tmer|timeer|countdown|count down|stopwatch|minuteur|temporizador|cronometro|wecker)";
const ALARM = "(?:alarm|alarms|alram|alarn|allarm|alrm|alarme|alarma|wecker)";
const DEVICE =
  "(?:lights?|lamps?|heat|lightbulbs?|bulbs?|fan|fans|tv|television|telly|heater|heating|ac|a\\/c|air ?con(?:ditioning|ditioner)?|thermostat|plug|socket|radio|speaker|oven|coffee (?:maker|machine)|kettle|dishwasher|washing machine|dryer|vacuum|roomba|robot vacuum|sprinklers?|garage(?: door)?|door|doors|blinds|curtains|shades|camera|cameras|alarm system|porch light|wifi|bluetooth|do not disturb|dnd|flashlight|torch|nightlight|night light|led|leds)";
const LIST_NAME = "(?:shopping|grocery|groceries|to-?do|todo|to do|packing|wish|wishlist|reading|watch|bucket|chore|chores)";

const SIMPLE_ACTIONS: readonly Rule[] = [
  {
    re: new RegExp(
      `\\b${TIMER}\\b|\\b(?:set|start|put|make)\\b[^.?!]{0,20}\\b(?:for|de|por|fur)\\s+(?:\\d+|an?|one|two|three|four|five|ten|fifteen|twenty|thirty|half an?)\\s*(?:min(?:ute)?s?|sec(?:ond)?s?|hours?|hrs?)\\b|\\bhow (?:much|long) (?:time )?(?:is )?left on\\b`,
    ),
    reason: "simple: timer action",
  },
  {
    re: new RegExp(`\\b${ALARM}\\b|\\bwake me(?: up)?\\b|\\bsnooze\\b|\\breveille[- ]moi\\b|\\bdespiertame\\b|\\bweck mich\\b`),
    reason: "simple: alarm action",
  },
  {
    re: /\b(?:remind|remid|remnd|reminde|rmind)\s+(?:me|us|him|her|them|my)\b|\breminders?\b|\brappelle[- ]moi\b|\brecuerdame\b|\berinnere mich\b|\berinnerung\b|\brecordatorio\b|\brappel\b/,
    reason: "simple: reminder",
  },
  {
    re: new RegExp(
      `\\b(?:add|put|stick|throw|remove|delete|take|cross|check|tick|mark)\\b[^.?!]{0,50}\\b(?:to|on|onto|off|from|in)\\s+(?:my|the|our)\\s+(?:${LIST_NAME}\\s+)?list\\b|\\b${LIST_NAME}\\s+list\\b|\\b(?:what'?s|what is|read|show)\\b[^.?!]{0,15}\\bon (?:my|the) (?:\\w+ )?list\\b|\\b(?:liste de courses|lista de (?:la )?compras?|einkaufsliste|a (?:ma|la) liste|a (?:mi|la) lista|auf (?:meine|die) (?:\\w+)?liste)\\b|\\b(?:ajoute|rajoute|ajouter|anade|agrega|agregar|anadir|fuge|setze|schreib)\\b[^.?!]{0,40}\\b(?:liste|lista|\\w*liste)\\b|\\bnew list\\b|\\b(?:create|make|start) a (?:new )?(?:\\w+ )?list called\\b`,
    ),
    reason: "simple: list action",
  },
  {
    re: new RegExp(
      `\\b(?:turn|switch|flip|shut|power|put)\\s+(?:(?:on|off|up|down)\\s+)?(?:the\\s+|my\\s+|all\\s+(?:the\\s+)?|all\\s+)?(?:[a-z']+\\s+){0,3}?${DEVICE}\\b|^(?:the |my |all (?:the )?)?(?:[a-z]+ )?${DEVICE}\\s+(?:on|off)\\b|\\b(?:dim|brighten|lock|unlock|open|close|raise|lower|arm|disarm|start|stop|pause|mute|unmute)\\s+(?:the\\s+|my\\s+|all\\s+(?:the\\s+)?)?(?:[a-z']+\\s+){0,2}?${DEVICE}\\b|\\bset (?:the |my )?(?:thermostat|heating|temperature|ac|heat|brightness|lights?)\\b|\\b(?:make|set|put|change|turn)\\s+(?:the\\s+|my\\s+|all\\s+(?:the\\s+)?)?(?:[a-z]+\\s+){0,2}?${DEVICE}\\s+(?:to\\s+)?(?:brighter|dimmer|darker|warmer|cooler|louder|quieter|softer|blue|red|green|white|purple|pink|orange|yellow|warm|cool|\\d+)|\\bset (?:the |my )?(?:[a-z]+ ){1,2}to \\d+\\s*(?:degrees|°|%|percent)|\\bmake it \\d+\\s*(?:degrees|°)|\\b(?:make it|it'?s too) (?:warmer|cooler|colder|hotter|brighter|darker|dark|bright|cold|hot)\\b(?! (?:outside|today|tomorrow))|\\b(?:allume|eteins|allumer|eteindre|enciende|apaga|encender|apagar|prende|schalte?|mach)\\b[^.?!]{0,30}\\b(?:lumieres?|lampe|luz|luces|lampara|licht|lampe|tele|television|fernseher|chauffage|calefaccion|heizung|an|aus)\\b`,
    ),
    reason: "simple: home device",
  },
  {
    re: /^(?:(?:can you |could you |please |pls )*)(?:play|put on|shuffle|queue|resume|pause|skip|replay)\b(?! (?:a game|games|with me|20 questions|twenty questions|chess|trivia|pretend|along|devil'?s advocate|the role|a role))|\b(?:next|previous|last) (?:song|track|episode)\b|\bskip (?:this|the)? ?(?:song|track|ad)\b|\b(?:volume|louder|quieter|softer)\b|\bturn (?:it|the music|the volume|this) (?:up|down)\b|\b(?:stop|pause|resume) (?:the |my )?(?:music|song|playback|podcast|audiobook|radio)\b|\bwhat(?:'?s| is) (?:this |the )?(?:song|track)(?: playing| called| is this)?\b|\bwho sings this\b|\b(?:mets|pon|spiel|spiele)\b[^.?!]{0,25}\b(?:musique|musica|cancion|chanson|lied|musik|playlist)\b/,
    reason: "simple: media control",
  },
  {
    re: /^(?:stop|pause|resume|skip|next|previous|mute|unmute|louder|quieter|shuffle|repeat|snooze|dismiss|cancel|stop it|shut up)(?: (?:it|that|this|please|pls|now|zoe))*[!. ]*$/,
    reason: "simple: one-word command",
  },
  {
    re: /\b(?:book|reserve|order|get|call)\s+(?:me\s+|us\s+)?(?:a|an)\s+(?:\w+\s+)?(?:table|taxi|cab|uber|lyft|ride|pizza|takeaway|takeout|delivery)\b/,
    reason: "simple: booking or order",
  },
  {
    re: /\b(?:send|text|txt|message|msg|email|e-mail|whatsapp|ping|dm|call|ring|phone|facetime|dial|video call)\s+(?:a (?:text|message|msg|email)\s+)?(?:to\s+)?(?:my\s+)?(?:mom|mum|mother|dad|father|wife|husband|boss|sister|brother|son|daughter|grandma|grandpa|partner|girlfriend|boyfriend|friend|team|office|doctor|[a-z]+(?:\s+[a-z]+)?\s+(?:that|saying|to say|and say|and tell)|[a-z]+\s*$)\b|\b(?:send|write|shoot)\s+(?:a|an)\s+(?:quick\s+)?(?:text|message|msg|email|sms)\s+to\b|\b(?:read|check|show|any)\s+(?:me\s+)?(?:my\s+)?(?:new\s+|unread\s+|latest\s+)?(?:messages|texts|emails|voicemails?|notifications|missed calls)\b|\btell \w+ (?:that )?i'?(?:m|ll|ll be) (?:late|running late|on my way|home|there)\b|^(?:text|txt|message|msg|whatsapp|sms|dm)\s+(?!me\b|us\b|a\b|an\b|the\b|this\b|that\b|it\b|is\b|was\b|for\b|from\b)[a-z]+\b|^(?:call|ring|phone|dial|facetime|video call)\s+(?:the\s+|my\s+)?(?!me\b|it\b|this\b|that\b|them\b|him\b|her\b|you\b|a\b|an\b)[a-z]+(?:\s+[a-z]+)?(?:\s+(?:back|now|please|for me|on speaker|at \S+))?\s*[.!]*$|\breply to\b[^.?!]{0,30}\bsaying\b|\b(?:envoie|envoyer|manda|enviar|envia|schick|sende)\b[^.?!]{0,20}\b(?:message|mensaje|nachricht|sms|texto)\b|\b(?:appelle|llama a|ruf)\b/,
    reason: "simple: message or call",
  },
  {
    re: /\b(?:add|put|schedule|book|create|set up|move|reschedule|cancel|delete)\b[^.?!]{0,40}\b(?:to|on|in|from)\s+(?:my|the)\s+calendar\b|\b(?:schedule|book|set up|create|add)\s+(?:a|an|my)\s+(?:\w+\s+)?(?:meeting|appointment|event|call|reservation|dentist appointment)\b|\b(?:cancel|move|reschedule)\s+(?:my|the)\s+(?:\w+\s+)?(?:meeting|appointment|event|call)\b|\bwhat(?:'?s| is| do i have)\b[^.?!]{0,20}\b(?:on my (?:calendar|schedule|agenda)|planned (?:for )?(?:today|tomorrow|tonight|this)|on (?:today|tomorrow|tonight)|scheduled)\b|\b(?:my|the) next (?:meeting|appointment|event)\b|\bam i free\b|\bdo i have (?:any )?(?:meetings?|appointments?|events?|plans|anything)\b|\bcalendar\b|\bagenda\b|\bcalendrier\b|\bcalendario\b|\bkalender\b|\btermin\b|\brendez-vous\b|\bcita\b/,
    reason: "simple: calendar",
  },
];

/** Units of measure and currencies (for conversions). */
const UNIT =
  "(?:miles?|mi|km|kms|kilometers?|kilometres?|meters?|metres?|m|feet|foot|ft|inch|inches|in|cm|centimeters?|centimetres?|mm|millimeters?|yards?|kg|kgs|kilos?|kilograms?|grams?|g|lbs?|pounds?|ounces?|oz|fl oz|cups?|liters?|litres?|l|ml|milliliters?|millilitres?|gallons?|quarts?|pints?|tablespoons?|teaspoons?|tbsp|tsp|c|f|celsius|fahrenheit|kelvin|degrees|mph|kph|km\\/h|knots|usd|eur|gbp|jpy|cad|aud|chf|dollars?|euros?|yen|pesos?|bucks|quid|stones?|acres?|hectares?|square feet|sq ft|bytes|kb|mb|gb|tb|megabytes|gigabytes|minutes|hours|seconds|days|weeks)";

const WHAT = "(?:what|wat|wht|whta|waht|wut|whats|wats|whts|what'?s|wat'?s|what is|wat is)";
const SIMPLE_LOOKUPS: readonly Rule[] = [
  {
    re: new RegExp(
      `\\b${WHAT}\\s*(?:'?s\\s+|is\\s+)?(?:the\\s+)?(?:current\\s+|local\\s+)?time\\b(?!\\s+(?:travel|management|zone difference|complexity|signature|machine|period|of (?:year|the year|day)|to (?!go)))|\\bwhat time\\b(?! (?:should|do i need|is best|would|is good|of (?:year|day)))|\\btime is it\\b|\\bcurrent time\\b|\\btime (?:in|at) [a-z]+|\\b${WHAT}\\s*(?:'?s\\s+|is\\s+)?(?:the\\s+|today'?s\\s+)?date\\b|\\bwhat day (?:is (?:it|today)|of the week)\\b|\\b(?:the )?(?:date|time|day) (?:today|now|right now)\\b|^(?:the )?(?:time|date|weather|forecast|temperature|temp)(?: (?:now|today|tonight|tomorrow|please|pls|here|outside))?\\s*[?!.]*$|\\bwhat(?:'?s| is) today\\b|\\bwhat year is it\\b|\\bwhat month is it\\b|\\bhow (?:many|long) (?:days|weeks|months|hours|sleeps) (?:until|till|til|to|before|since)\\b|\\bwhen is (?:sunrise|sunset)\\b|\\bwhat time (?:is|does) (?:sunrise|sunset|the sun)\\b|\\bquelle heure|\\bquelle date|\\bque hora|\\bqu[eé] hora|\\bque dia es|\\bwie spat ist es|\\bwie viel uhr|\\bwelcher tag|\\bwelches datum|\\bquel jour\\b`,
    ),
    reason: "simple: time or date lookup",
  },
  {
    re: /\b(?:weather|wether|wheather|weahter|waether|wheater|weathr|forecast|forcast|forecst|temperature outside|temp outside|humidity|uv index|pollen count|air quality|wind speed|chance of rain)\b|\b(?:will|is) it (?:going to |gonna )?(?:rain|snow|be (?:sunny|cloudy|cold|hot|warm|windy|rainy|nice)|freeze|storm)\b|\b(?:do|should) i (?:need|bring|take) (?:an? )?(?:umbrella|jacket|coat|sunscreen)\b|\bhow (?:hot|cold|warm|windy|humid|sunny|rainy|snowy) (?:is it|will it be|is it going to be|'?s it (?:going to be|gonna be)|'?s it)\b|\b(?:wind|rain|snow|sunshine|uv|humidity|temperature|temp)\b[^.?!]{0,25}\b(?:today|tonight|tomorrow|this (?:morning|afternoon|evening|weekend)|right now|outside)\b|\bis it (?:raining|snowing|sunny|cold|hot|windy) (?:outside|out|today|now|in)\b|\bquel temps|\bmeteo\b|\bque tiempo|\bel tiempo\b|\bclima\b|\bwetter\b|\bwie warm\b/,
    reason: "simple: weather lookup",
  },
  {
    re: new RegExp(
      `\\b(?:convert|conversion)\\b[^.?!]{0,40}\\b(?:to|into|in)\\b` +
        `|\\bhow many ${UNIT}\\b[^.?!]{0,30}\\b(?:in|are in|per|make|to|is)\\b` +
        `|\\d(?:[.,]\\d+)?\\s*(?:°\\s*)?${UNIT}\\b[^.?!]{0,15}?\\s(?:in|to|into|en|a)\\s+${UNIT}\\b` +
        `|\\b${UNIT}\\s+(?:to|in|into|->|=)\\s+${UNIT}\\b` +
        `|\\bexchange rate\\b|\\b(?:usd|eur|gbp|jpy|btc)\\s*(?:to|in|\\/)\\s*(?:usd|eur|gbp|jpy|btc)\\b`,
    ),
    reason: "simple: unit conversion",
  },
  {
    re: /\d\s*(?:[-+*x×÷/^]|\*\*)\s*\(?\s*-?\d|\b\d+(?:[.,]\d+)?\s*(?:%|percent)\s+(?:of|off)\b|\b(?:tip|tax) (?:on|for)\b[^.?!]{0,15}\d|\b(?:square root|cube root|sqrt|factorial|log(?:arithm)?) of\b|\b(?:\d+(?:[.,]\d+)?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand)\s+(?:plus|minus|times|multiplied by|divided by|over|squared|cubed|to the power of|mod|modulo|x)\s+(?:\d|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand)|\b\d+(?:[.,]\d+)?\s+(?:squared|cubed)\b|\b(?:calculate|compute)\s+\d|\bhow much is \d+(?:[.,]\d+)?\s*(?:\+|plus|minus|times|x|divided|%)|\bcombien (?:font|fait)\b|\bcuanto es\b|\bwie viel ist\b/,
    reason: "simple: arithmetic",
  },
  {
    re: /\b(?:stock price|share price|price of (?:bitcoin|btc|ethereum|gold|oil|\w+ stock)|bitcoin price|how (?:is|are) (?:the )?(?:stocks?|markets?|dow|nasdaq|s&p) (?:doing|today)|score of the|(?:what|who) (?:was|is) the score|did the [a-z]+ win|traffic (?:like|on|to)|how long (?:will it take|does it take) to (?:drive|get|walk) to|when does [a-z' ]+ (?:open|close)|is [a-z' ]+ open (?:now|today|right now)|news headlines|top headlines|latest news|what'?s the news|where is my (?:phone|package|order)|find my (?:phone|keys|iphone)|battery (?:level|percentage)|what'?s my battery)\b/,
    reason: "simple: live data lookup",
  },
];

// ---------------------------------------------------------------------------
// Complex: planning, analysis, comparison, long-form writing.
// ---------------------------------------------------------------------------

const COMPLEX_RULES: readonly Rule[] = [
  {
    re: /\b(?:make|create|build|draw up|set up|put together|design|devise|work out|come up with|give me|write)\s+(?:me\s+|us\s+)?(?:a|an|my|our|the)\s+(?:(?:\w+|\d+[- ]\w+)\s+){0,3}?(?:budget|plan|schedule|timetable|itinerary|routine|regimen|strategy|program|programme|curriculum|syllabus|roadmap|checklist for (?:a|an|my|our|the) (?:move|wedding|trip|launch|renovation)|challenge|course|agenda for (?:a|an|the|our) (?:offsite|workshop|retreat|conference))\b/,
    reason: "complex: planning",
  },
  {
    re: /\b(?:planifie[rz]?|planifions|organise[rz]? (?:un|une|mon|ma|nos)|planea|planear|planifica|planificar|organiza (?:un|una|mi)|plane (?:eine?n?|meine?n?)|planen|erstelle|erstellen|entwirf|entwickle)\b|\b[a-z]{4,}plan\b|\b(?:compar(?:e[rz]?|a|ar)|vergleiche?n?)\b|\b(?:pros y contras|ventajas y desventajas|avantages et (?:les )?inconvenients|pour et (?:le )?contre|vor- und nachteile|vor und nachteile)\b|\b(?:redige|redigez|redacta|escribe un (?:ensayo|informe|articulo)|ecris un (?:essai|rapport|article)|schreibe? (?:einen|ein) (?:aufsatz|bericht|artikel)|analy[sz]e[rz]?|analiza|analisis|analysiere)\b/,
    reason: "complex: planning or analysis (fr/es/de)",
  },
  {
    re: /\b(?:plan|planning|itinerary|roadmap|schedule out|map out|lay out|organi[sz]e)\b[^.?!]{0,60}\b(?:trip|vacation|holiday|travel|week|month|year|wedding|party|event|move|moving|budget|career|project|launch|study|studying|exam|curriculum|diet|meals?|workout|training|routine|garden|renovation|business|retirement|savings|finances|day|days|weekend|journey|honeymoon|course|semester|migration|strategy|marketing|conference|fundraiser|menu)\b|\b(?:itinerary|roadmap|business plan|meal plan|workout plan|training plan|study plan|lesson plan|marketing plan|project plan|action plan|game plan|budget plan|savings plan|financial plan|(?:\d+|one|two|three|four|five|six|seven|ten|fourteen|thirty)[- ](?:day|week|month)s? (?:plan|trip|itinerary|schedule|program|programme|course|curriculum|challenge))\b|^(?:help me |can you help me |could you help me |i need (?:help|you) to |let'?s |please )?plan\b/,
    reason: "complex: planning",
  },
  {
    re: /\b(?:compare|comparing|comparison|contrast|versus|vs\.?|pros and cons|pros & cons|pros\/cons|advantages and disadvantages|benefits and drawbacks|trade-?offs?|tradeoffs|weigh (?:up )?(?:the )?(?:options|pros)|(?:which|what)(?:'s| is| one is| would be| option is) (?:better|best|cheaper|healthier|safer|smarter|more (?:economical|practical|sustainable|affordable))\b[^.?!]{0,60}\bor\b|which (?:is|one is|would be) (?:better|best|cheaper|healthier|safer|more)|\bconsider(?:ing)? (?:the )?(?:cost|costs|price|safety|space|risk|risks|pros|budget|time|effort|fees|quality|performance|environmental|impact|factors|options|everything|both|all)\b|(?:better|worse) (?:option|choice|investment|deal) (?:for|than)|should i (?:\w+ ){1,6}or\b|torn between|(?:can'?t|cannot|trying to) (?:decide|choose) between|deciding between|choose between|help me (?:pick|choose) between|rank (?:them|these|those|the)\b)\b/,
    reason: "complex: comparison",
  },
  {
    re: /\b(?:analy[sz]e|analysis|analy[sz]ing|evaluate|evaluation|assess|assessment|critique|critically|in-depth|in depth|in detail|detailed|thorough|thoroughly|comprehensive|step[- ]by[- ]step|break (?:it |this |that )?down|deep dive|implications|root cause|feasibility|strategy|strategies|framework for|cost[- ]benefit|risk assessment|swot|forecast (?:my|our|the) (?:revenue|sales|budget)|model (?:the|my|our)|estimate how much|optimi[sz]e my|prioriti[sz]e|consequences|ramifications|knock-on effects?|second-order|both sides|for and against|arguments? (?:for|against)|think (?:it |this |that |things |them )?through|reason (?:it |this )?through|reasoning|what would happen|what (?:will|could|might) happen (?:to|if)|how would (?:the|a|an|society|the world)|overall assessment|(?:weigh|weighing) (?:up )?(?:the|my|these|both)|long[- ]term (?:impact|effects|consequences|strategy))\b/,
    reason: "complex: analysis",
  },
  {
    re: /\b(?:write|draft|compose|create|prepare|put together|outline|produce)\b[^.?!]{0,40}\b(?:essay|essays|article|report|blog post|blog|cover letter|resume|cv|speech|proposal|thesis|dissertation|research paper|paper|whitepaper|white paper|business plan|newsletter|press release|case study|short story|story|novel|chapter|script|screenplay|eulogy|toast|lesson plan|curriculum|syllabus|policy|guide|tutorial|manual|presentation|pitch|letter of recommendation|recommendation letter|complaint letter|formal letter|grant|summary of|literature review|review of)\b|\b(?:\d{3,}|five hundred|a thousand)[- ]words?\b|\b(?:write|draft|compose)\s+(?:me\s+)?(?:a|an)\s+(?:\w+\s+){0,2}?(?:email|e-mail|letter|message|note)\b[^.?!]{0,80}\b(?:complain(?:ing)?|explain(?:ing)?|request(?:ing)?|asking for|negotiat\w*|formal|professional|polite|firm|persuasive|resign\w*|apolog\w*|complaint|appeal\w*|dispute|timeline|detail\w*|outlining|summari[sz]\w*|proposing|pitch\w*)\b|\b(?:long|lengthy|detailed|full|complete|epic|multi-part) (?:essay|article|report|story|guide|explanation|answer|overview|breakdown|plan|poem|ballad|letter|speech)\b|\b(?:at least|minimum(?: of)?|around|about|over|roughly)?\s*(?:\d+|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|several|many|multiple)\s+(?:stanzas|paragraphs|pages|chapters|verses|sections|slides|scenes|parts)\b/,
    reason: "complex: long-form writing",
  },
  {
    re: /\b(?:help me (?:decide|choose|figure out|work out|think through|weigh|prepare|budget|organi[sz]e|design|structure|build|create|develop|come up with|brainstorm)|brainstorm|come up with (?:a|some|ideas|ways|a list)|design (?:a|an|my)|develop (?:a|an)|create (?:a|an) (?:plan|schedule|budget|strategy|program|programme|routine|system|framework|curriculum|course)|how (?:should|would|could|can) (?:i|we) (?:approach|go about|structure|tackle|prepare for|transition|reduce|improve|grow|scale|pay off|save for|invest)|what(?:'s| is| would be) the best (?:strategy|approach) (?:to|for)|what (?:should|do|would) (?:i|we) (?:need to )?(?:consider|think about|keep in mind|weigh)|(?:factors|things) (?:to|i should|we should) consider|walk me through|what would happen if|what are the (?:long[- ]term )?(?:consequences|implications|risks|trade-?offs)|(?:why|how) did [a-z ]{3,40}(?:collapse|fall|rise|happen|start|end|fail|succeed) and\b|explain (?:how|why) [^.?!]{10,} and (?:how|why|what)\b)/,
    reason: "complex: multi-step reasoning",
  },
];

// ---------------------------------------------------------------------------
// Normalisation helpers.
// ---------------------------------------------------------------------------

const DIACRITICS = /[\u0300-\u036f]/g;
// biome-ignore lint/suspicious/noMisleadingCharacterClass: joiners and variation selectors are removed one by one on purpose
const EMOJI = /[\p{Extended_Pictographic}\u{1F3FB}-\u{1F3FF}\u200d\ufe0f]/gu;
const APOSTROPHES = /[\u2018\u2019\u02bc`´]/g;
/** Invisible format characters (direction marks, zero-width spaces, soft hyphens). */
const FORMAT = /\p{Cf}/gu;
const WHITESPACE = /\s+/g;
const NON_ASCII = /[^\x00-\x7f]/;
const WORD = /[\p{L}\p{N}]+/gu;
const SENTENCE_END = /(?<![.?!])[.?!]+(?:\s|$)/g;

/**
 * Lower case without accents, emoji or invisible format characters; compatibility forms
 * (full-width letters, ligatures) folded to plain ones; blanks collapsed. At most
 * {@link MAX_SCAN} characters (a compatibility form can unfold to many).
 */
function normalise(text: string): string {
  let t = text.toLowerCase();
  if (NON_ASCII.test(t)) {
    t = t.normalize("NFKD").replace(DIACRITICS, "").replace(EMOJI, " ").replace(FORMAT, "").replace(APOSTROPHES, "'");
    if (t.length > MAX_SCAN) t = t.slice(0, MAX_SCAN);
  }
  return t.replace(WHITESPACE, " ").trim();
}

function stripSeparators(t: string): string {
  const m = SEPARATORS.exec(t);
  return m ? t.slice(m[0].length) : t;
}

/**
 * Removes leading greetings, thanks, fillers and the assistant's name.
 * Returns the rest and whether a real greeting token was seen.
 */
function stripGreeting(t: string): { rest: string; greeted: boolean } {
  let rest = stripSeparators(t);
  let greeted = false;
  // A handful of rounds is enough for "hey zoe, good morning! thanks so much, ..."
  for (let i = 0; i < 8 && rest.length > 0; i++) {
    const g = GREETING_HEAD.exec(rest);
    if (g) {
      greeted = true;
      rest = stripSeparators(rest.slice(g[0].length));
      continue;
    }
    const a = ADDRESS_HEAD.exec(rest);
    if (a) {
      greeted = greeted || /^(?:hey|hi|hello|yo|dear)\b/.test(a[0]);
      rest = stripSeparators(rest.slice(a[0].length));
      continue;
    }
    const f = FILLER_HEAD.exec(rest);
    if (f) {
      rest = stripSeparators(rest.slice(f[0].length));
      continue;
    }
    break;
  }
  return { rest, greeted };
}

function countWords(t: string): number {
  WORD.lastIndex = 0;
  let n = 0;
  while (WORD.exec(t) !== null) n++;
  return n;
}

/** Number of sentence ends (`.`, `?`, `!` runs before a blank or the end) in `t`. Exported for tests. */
export function countSentences(t: string): number {
  SENTENCE_END.lastIndex = 0;
  let n = 0;
  while (SENTENCE_END.exec(t) !== null) n++;
  return n;
}

function firstMatch(rules: readonly Rule[], t: string): string | undefined {
  for (const rule of rules) if (rule.re.test(t)) return rule.reason;
  return undefined;
}

/**
 * Questions about how or why something works ("how do alarms work", "why do timers beep"):
 * they mention devices but ask for an explanation, so they are not device actions.
 */
const EXPLAIN_QUESTION =
  /^(?:(?:can you |could you |please )?(?:explain|describe|tell me)\s+(?:to me\s+)?(?:how|why|what)\b|how (?:do|does|did|are|is|were|was|can|could)\b[^?.!]*\b(?:work|works|working|made|built|invented|function|operate|know)\b|why (?:do|does|did|is|are|was|were|can'?t|don'?t|doesn'?t|would)\b|who (?:invented|made|created|discovered|designed)\b|when (?:was|were|did)\b[^?.!]*\b(?:invented|created|made|introduced|first)\b|what (?:is|are|was|were) (?:a|an)\s+(?!good\b|nice\b)|(?:what'?s|what is) the (?:history|origin|point|purpose) of\b)/;

/** Lookup words used about something that is not live data ("weather on Mars", "weather vs climate"). */
const LOOKUP_EXCLUDE =
  /\b(?:on|of) (?:mars|venus|jupiter|saturn|mercury|neptune|uranus|pluto|the moon|titan|other planets|exoplanets)\b|\b(?<!time )difference between\b|\b(?:history|science|physics|meaning|origin) of\b|\bhow (?:do|does|is|are) (?:weather|forecasts?|clocks?|time zones?)\b|\b(?:in|during) (?:the )?(?:ice age|middle ages|past|\d{3,4}s?|victorian|roman)\b|\b(?:usually|typically|normally|generally|on average|average|historically)\b|\bin (?:january|february|march|april|may|june|july|august|september|october|november|december|spring|summer|autumn|fall|winter)\b/;

/**
 * Requests that open with a planning or writing verb: a device word inside them
 * ("…with a shopping list") does not make them a device action.
 */
const LEADS_COMPLEX =
  /^(?:(?:can|could|would|will) (?:you|u) (?:please |pls )?|please |pls |plz |i (?:need|want|would like|'?d like) (?:you )?to |help me |let'?s |now )*(?:plan|create|make|build|design|draft|write|compose|outline|compare|analy[sz]e|evaluate|develop|prepare|organi[sz]e|put together|come up with|give me (?:a|an) (?:detailed|step|full|complete|weekly|monthly|daily)|break down|help me (?:plan|decide|choose|figure|think|work))\b/;

/** Beyond this many words a turn is long-form on length alone. */
const LONG_WORDS = 60;
/** A simple action phrased at more than this many words is probably something else. */
const SIMPLE_MAX_WORDS = 30;

/**
 * Code recognised by its structure in `text` (a fenced block, a stack trace, an error line, a
 * line or token of source), or undefined. Scans all of `text` (the caller cuts it); exported for tests.
 */
export function codeByStructure(text: string): RuleClassification | undefined {
  if (FENCE.test(text)) return { kind: "code", reason: "code: fenced block" };
  if (STACK_TRACE.test(text)) return { kind: "code", reason: "code: stack trace" };
  if (ERROR_NAME.test(text)) return { kind: "code", reason: "code: error message" };
  if (SYNTAX_LINE.test(text)) return { kind: "code", reason: "code: syntax line" };
  if (SYNTAX_TOKEN.test(text)) return { kind: "code", reason: "code: inline syntax" };
  return undefined;
}

/**
 * Classifies one user turn into a {@link RouteKind} with pure, precompiled heuristics.
 *
 * Order: code syntax in the raw text; then a leading greeting/thanks/address is stripped
 * (nothing left means `greeting`); then code topics, simple actions, complex requests,
 * simple lookups and length, falling back to `chat`.
 */
export function classifyByRules(text: string): RuleClassification {
  const raw = text.length > MAX_SCAN ? text.slice(0, MAX_SCAN) : text;
  if (raw.trim().length === 0) return { kind: "chat", reason: "chat: empty" };

  const structural = codeByStructure(raw);
  if (structural) return structural;

  const norm = normalise(raw);
  const { rest, greeted } = stripGreeting(norm);
  if (rest.length === 0 || countWords(rest) === 0) {
    return greeted ? { kind: "greeting", reason: "greeting: opener only" } : { kind: "chat", reason: "chat: no content" };
  }

  if (CODE_STRONG.test(rest)) return { kind: "code", reason: "code: programming topic" };
  if (CODE_REQUEST.test(rest)) return { kind: "code", reason: "code: code deliverable" };
  if (weakCodeTopic(rest)) return { kind: "code", reason: "code: technical words together" };

  const words = countWords(rest);
  const explaining = EXPLAIN_QUESTION.test(rest);
  const complex = firstMatch(COMPLEX_RULES, rest);
  if (complex !== undefined && LEADS_COMPLEX.test(rest)) return { kind: "complex", reason: complex };

  if (words <= SIMPLE_MAX_WORDS && !explaining) {
    const action = firstMatch(SIMPLE_ACTIONS, rest);
    if (action !== undefined) return { kind: "simple", reason: action };
  }

  if (complex !== undefined) return { kind: "complex", reason: complex };

  if (words <= SIMPLE_MAX_WORDS && !explaining && !LOOKUP_EXCLUDE.test(rest)) {
    const lookup = firstMatch(SIMPLE_LOOKUPS, rest);
    if (lookup !== undefined) return { kind: "simple", reason: lookup };
  }

  if (words > LONG_WORDS || (words > 35 && countSentences(rest) >= 3)) {
    return { kind: "complex", reason: "complex: long multi-part request" };
  }

  return { kind: "chat", reason: greeted ? "chat: greeting then question" : "chat: default" };
}

let warmed = false;

/**
 * Run the classifier once over a few varied turns, so that V8 compiles its regular expressions
 * now (tens of milliseconds on a cold process) rather than on the first user's turn.
 */
export function warmUpRules(): void {
  if (warmed) return;
  warmed = true;
  for (const text of [
    "hi zoe!",
    "thanks, see you later",
    "set a timer for ten minutes and turn off the kitchen lights",
    "what's 15% of 80? what time is it in Tokyo, and the weather tomorrow?",
    "write a python function that parses JSON; TypeError: x is undefined at main.js:3:5",
    "```js\nconst x = 1;\n```",
    "plan a five-day trip to Japan on a budget and compare renting and buying",
    "why is the sky blue? tell me a joke",
    "bonjour, pon un temporizador de 5 minutos bitte",
    "what is the capital of France? who wrote Pride and Prejudice?",
    "how do alarms work? explain how vaccines work",
    "convert 5 miles to km, what's the date today",
    "stell einen Wecker für 6 Uhr",
    "réveille-moi à 7h, ¿qué hora es en Madrid?",
    "😀 merci beaucoup !",
    "could you please remind me to call mom and add eggs to my shopping list",
    "hey, can you help me decide between these two jobs, analyse the pros and cons in detail",
    `${"I have been thinking about my career and my family and where we should live next year. ".repeat(6)}What do you think?`,
  ]) {
    classifyByRules(text);
  }
}
