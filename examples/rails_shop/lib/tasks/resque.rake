require "resque/tasks"

task "resque:setup" => :environment  # expect: PGF002
