"""What Ruby code does to PostgreSQL connections, in order: Sequel databases and `PG.connect` created,
Active Record queries, disconnects and re-establishes. Read from the syntax tree only (never run).

Used for the app's boot code (initializers, `config.ru` and what it requires) and for server hooks
(`before_fork`, `after_fork`, `on_worker_boot`, `Resque.before_fork`, ...).
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.model import ConnectionOpen, Engine, EngineKind, ProcessEffects, Quantity, Reset, ResetKind
from pgforklint.read.ruby import Call, Scope, as_call, evaluate, keyword_args, statements, string_value, text_of

AR_ROOTS = ("ActiveRecord::Base", "::ActiveRecord::Base", "ApplicationRecord")
# Active Record calls that close the process's connections (the parent side of the fork recipe).
AR_DISCONNECTS = ("disconnect!", "clear_all_connections!", "remove_connection", "flush_idle_connections!")
# Methods that run a query when called on a model class or a relation (a relation alone is lazy).
QUERY_METHODS = {"count", "first", "last", "find", "find_by", "find_by!", "find_each", "find_in_batches", "pluck",
                 "exists?", "take", "sum", "maximum", "minimum", "average", "ids", "to_a", "each", "load", "first!",
                 "last!", "find_or_create_by", "find_or_create_by!", "create!", "update_all", "delete_all",
                 "destroy_all", "table_exists?", "column_names", "columns"}
AR_CONNECTION_QUERY = {"execute", "exec_query", "select_all", "select_value", "select_values", "select_rows",
                       "select_one", "tables", "table_exists?", "verify!", "reconnect!", "transaction", "insert",
                       "update", "delete", "connection"}
NOT_MODELS = {"ENV", "Rails", "File", "Dir", "Integer", "Float", "String", "Time", "Date", "DateTime", "Logger",
              "Sidekiq", "Resque", "Puma", "Unicorn", "Sequel", "PG", "ActiveSupport", "ActiveRecord", "Thread",
              "Process", "Signal", "Kernel", "JSON", "YAML", "Redis", "Array", "Hash", "Set", "GC", "ObjectSpace",
              "IO", "STDOUT", "STDERR", "Pathname", "URI", "Socket", "GoodJob", "SolidQueue", "Bundler", "Gem",
              "NewRelic", "Rack", "Sinatra", "Dotenv", "ERB", "Benchmark", "Concurrent", "SecureRandom", "Struct",
              "OpenStruct", "Etc", "Timeout", "Object", "Module", "Class", "Comparable", "Enumerable", "Math", "Range"}
SEQUEL_CREATE = ("connect", "postgres", "postgresql", "new")
PG_CREATE = {("PG", "connect"), ("PG::Connection", "new"), ("PG::Connection", "open"), ("PG::Connection", "connect"),
             ("PG::Connection", "connect_start")}
SEQUEL_DEFAULT_MAX_CONNECTIONS = 4
SEQUEL_MODEL = "<Sequel::Model subclass>"
# Blocks that do not run where they are written: other programs' hooks, method bodies, lambdas.
DEFERRED_RECEIVERS = ("Resque", "Sidekiq", "GoodJob", "SolidQueue", "Puma", "Unicorn")
DEFERRED_NODES = ("method", "singleton_method", "lambda")


def _root(call_node):
    """The innermost receiver of a call chain (`ActiveRecord::Base` in `ActiveRecord::Base.connection.execute`)."""
    node = call_node
    while node is not None and node.type == "call":
        receiver = node.child_by_field_name("receiver")
        if receiver is None:
            return node
        node = receiver
    return node


ENV_SUBJECTS = {"Padrino.env", "Rails.env", "settings.environment", "RACK_ENV", "RAILS_ENV", "APP_ENV",
                'ENV["RACK_ENV"]', "ENV['RACK_ENV']", 'ENV["RAILS_ENV"]', "ENV['RAILS_ENV']", 'ENV["APP_ENV"]',
                "ENV['APP_ENV']"}


def _env_case(node) -> bool:
    value = node.child_by_field_name("value")
    return value is not None and text_of(value).replace(" ", "").lstrip(":") in ENV_SUBJECTS


def _production_branch(node):
    """The body of the `when :production` (or `"production"`) clause of an environment `case`, else its `else`."""
    fallback = None
    for child in node.named_children:
        if child.type == "when":
            patterns = [text_of(c).strip() for c in child.named_children if c.type == "pattern"]
            if any(p in (":production", '"production"', "'production'") for p in patterns):
                return child.child_by_field_name("body")
        elif child.type == "else":
            fallback = child
    return fallback


def _chain_methods(call_node) -> list[str]:
    out = []
    node = call_node
    while node is not None and node.type == "call":
        method = node.child_by_field_name("method")
        out.append(text_of(method))
        node = node.child_by_field_name("receiver")
    return out[::-1]


class CodeReader:
    """Reads Ruby bodies into `ProcessEffects`. Engines (Sequel `DB`, `PG.connect` results) are shared across
    files by their constant or variable name; `ar_engines` are the Active Record pools of database.yml."""

    def __init__(self, ar_engines: list[Engine]):
        self.ar_engines = ar_engines
        self.named: dict[str, Engine] = {}
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- entry points ---------------------------------------------------------------------------

    def read_program(self, source, rel: str, effects: ProcessEffects, scope: Scope | None = None) -> None:
        scope = scope or Scope()
        for statement in statements(source.root, scope):
            self.read_node(statement, rel, effects, scope)

    def read_block(self, call: Call, rel: str, effects: ProcessEffects, scope: Scope | None = None) -> None:
        scope = scope or Scope()
        if call.block is None:
            return
        for child in call.block.children:
            if child.type in ("body_statement", "block_body"):
                for statement in statements(child, scope):
                    self.read_node(statement, rel, effects, scope)

    def read_node(self, node, rel: str, effects: ProcessEffects, scope: Scope) -> None:
        names: dict[int, str] = {}
        for call in self._outermost(node, names):
            self._classify(call, rel, effects, names.get(call.node.id), scope)

    # -- walking ----------------------------------------------------------------------------------

    def _outermost(self, node, names: dict[int, str]):
        stack = [node]
        while stack:
            current = stack.pop()
            kind = current.type
            if kind in DEFERRED_NODES:
                continue
            if kind == "class":
                superclass = current.child_by_field_name("superclass")
                if superclass is not None and "Sequel::Model" in text_of(superclass):
                    yield Call(current, None, SEQUEL_MODEL, [], None)
            if kind == "case" and _env_case(current):
                # `case Padrino.env`: only the branch that runs in production (none: nothing runs there).
                branch = _production_branch(current)
                if branch is not None:
                    stack.append(branch)
                continue
            if kind in ("assignment", "operator_assignment"):
                left, right = current.child_by_field_name("left"), current.child_by_field_name("right")
                if right is not None and right.type == "case" and _env_case(right):
                    branch = _production_branch(right)
                    values = [c for c in branch.named_children if c.type != "comment"] if branch is not None else []
                    right = values[-1] if values else None
                if left is not None and right is not None and right.type == "call":
                    names[right.id] = text_of(left)
            if kind == "call":
                call = as_call(current)
                if call is None:
                    continue
                deferred = call.block is not None and call.receiver_text.lstrip(":").split("::")[0] in DEFERRED_RECEIVERS
                yield call
                parts = []
                receiver = current
                while receiver is not None and receiver.type == "call":
                    arguments = receiver.child_by_field_name("arguments")
                    block = receiver.child_by_field_name("block")
                    if arguments is not None:
                        parts.append(arguments)
                    if block is not None and not (deferred and receiver is current):
                        parts.append(block)
                    receiver = receiver.child_by_field_name("receiver")
                if receiver is not None:
                    parts.append(receiver)
                stack.extend(reversed(parts))
                continue
            stack.extend(reversed(current.named_children))

    # -- what a call does ----------------------------------------------------------------------------

    def _classify(self, call: Call, rel: str, effects: ProcessEffects, name: str | None, scope: Scope) -> None:
        location = Location(rel, call.line, call.node.start_point[1] + 1)
        receiver = call.receiver_text.lstrip(":")
        method = call.method
        if method == SEQUEL_MODEL:
            # A model class reads its table's schema when it is defined: a query at load time.
            engine = next((e for e in reversed(list(self.named.values())) if e.kind is EngineKind.SEQUEL), None)
            if engine is not None:
                name = text_of(call.node.child_by_field_name("name"))
                self._open(engine, location, f"class {name} < Sequel::Model", effects)
            return
        if receiver == "Sequel" and method in SEQUEL_CREATE:
            self._create(EngineKind.SEQUEL, call, rel, location, name, effects, scope)
            return
        if (receiver, method) in PG_CREATE:
            self._create(EngineKind.RAW_CONNECTION, call, rel, location, name, effects, scope)
            return
        root = _root(call.node)
        root_text = text_of(root).lstrip(":") if root is not None else ""
        chain = _chain_methods(call.node)
        if root_text not in self.named and call.receiver is not None and call.receiver.type == "call" \
                and call.receiver_text.lstrip(":") in self.named:
            root_text, chain = call.receiver_text.lstrip(":"), [method]  # `Sequel::Model.db.disconnect`
        if root_text in self.named:
            engine = self.named[root_text]
            if chain[-1:] in (["disconnect"], ["close"], ["finish"]):
                effects.resets.append((self.next_seq(), Reset(ResetKind.CLOSE, engine, location)))
            elif engine.kind is EngineKind.SEQUEL and chain[-1:] and chain[-1] in ("run", "execute", "fetch", "tables",
                                                                                    "test_connection", "transaction"):
                self._open(engine, location, f"{root_text}.{chain[-1]}", effects)
            elif engine.kind is EngineKind.RAW_CONNECTION and chain[-1:] and chain[-1] in ("exec", "exec_params",
                                                                                          "query", "async_exec"):
                # The same held connection as the `PG.connect` that made it: one cause, one finding.
                self._open(engine, location, f"{root_text}.{chain[-1]}", effects, retained=True)
            return
        if not self.ar_engines:
            return
        if root_text in AR_ROOTS or root_text.startswith("ActiveRecord::Base"):
            last = chain[-1] if chain else ""
            if last in AR_DISCONNECTS:
                for engine in self.ar_engines:
                    effects.resets.append((self.next_seq(), Reset(ResetKind.CLOSE, engine, location)))
            elif last == "establish_connection":
                for engine in self.ar_engines:
                    effects.resets.append((self.next_seq(), Reset(ResetKind.REESTABLISH, engine, location)))
            elif "connection" in chain and (last in AR_CONNECTION_QUERY):
                self._open(self.ar_engines[0], location, text_of(call.node).split("(")[0][:60], effects)
            return
        if root is not None and root.type in ("constant", "scope_resolution") and root_text.split("::")[0] not in NOT_MODELS:
            last = chain[-1] if chain else ""
            if last in QUERY_METHODS and root_text[:1].isupper():
                self._open(self.ar_engines[0], location, text_of(call.node).split("(")[0][:60] + (
                    "" if not call.args and call.block is None else "(...)"), effects)

    def _open(self, engine: Engine, location: Location, operation: str, effects: ProcessEffects,
              retained: bool = False) -> None:
        if engine not in effects.engines:
            effects.engines.append(engine)
        effects.opens.append(ConnectionOpen(engine, location, operation, retained=retained))
        effects.open_seq.append(self.next_seq())

    def _create(self, kind: EngineKind, call: Call, rel: str, location: Location, name: str | None,
                effects: ProcessEffects, scope: Scope) -> None:
        first = call.args[0] if call.args else None
        url = string_value(first) if first is not None else None
        if url and url.startswith(("sqlite", "mysql", "jdbc:sqlite", "jdbc:mysql", "amalgalite", "mock")):
            return  # not a PostgreSQL database
        label = name or (f"<Sequel.{call.method}@{call.line}>" if kind is EngineKind.SEQUEL else f"<PG.connect@{call.line}>")
        options = keyword_args(call)
        engine = Engine(kind, f"{rel}:{label}", location)
        engine.extra["language"] = "ruby"
        test = True
        if kind is EngineKind.SEQUEL:
            maximum = options.get("max_connections")
            if maximum is not None:
                value = evaluate(maximum, scope)
                engine.max_size = _quantity(value, Location(rel, maximum.start_point[0] + 1), "Sequel max_connections")
            else:
                engine.max_size = Quantity(SEQUEL_DEFAULT_MAX_CONNECTIONS, _default_origin(location))
            test_node = options.get("test")
            if test_node is not None and text_of(test_node) == "false":
                test = False
        engine.eager = test
        if not test:
            engine.extra["lazy_sequel"] = True
        if name:
            self.named[name.lstrip(":").lstrip("$").lstrip("@")] = engine
            self.named[name] = engine
        effects.engines.append(engine)
        if test:
            operation = f"Sequel.{call.method}(...)" if kind is EngineKind.SEQUEL else text_of(call.node).split("(")[0] + "(...)"
            effects.opens.append(ConnectionOpen(engine, location, operation, retained=kind is EngineKind.RAW_CONNECTION))
            effects.open_seq.append(self.next_seq())


def _default_origin(location: Location):
    from pgforklint.model import Origin, OriginKind

    return Origin(OriginKind.DEFAULT, None, "Sequel's default max_connections = 4")


def _quantity(value, location: Location, detail: str) -> Quantity:
    from pgforklint.model import Origin, OriginKind

    if isinstance(value.value, int) and not isinstance(value.value, bool):
        if value.env_var and value.from_default:
            return Quantity(value.value, Origin(OriginKind.ENV_DEFAULT, location,
                                                f"{detail}: ${value.env_var} not set in the repo; its default is used"),
                            env_var=value.env_var)
        return Quantity(value.value, Origin(OriginKind.FILE, location, detail), env_var=value.env_var)
    if isinstance(value.value, str) and value.env_var and value.value.strip().isdigit():
        # `workers ENV.fetch("WEB_CONCURRENCY", 2)` where the launch sets the variable (Compose `environment`, Kamal
        # `env.clear`): environment values are strings, and Puma and Unicorn take them with `Integer()`/`to_i`.
        return Quantity(int(value.value), Origin(OriginKind.FILE, location,
                                                 f"{detail}: ${value.env_var} = {value.value.strip()} where the process starts"),
                        env_var=value.env_var)
    if value.env_var:
        return Quantity(None, Origin(OriginKind.ENV_UNSET, location, f"{detail}: ${value.env_var} has no value in the repo"),
                        symbolic=value.symbolic, env_var=value.env_var)
    return Quantity(None, Origin(OriginKind.FILE, location, detail), symbolic=value.symbolic)


quantity_of = _quantity
