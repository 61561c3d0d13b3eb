from pgforklint.cli import main

raise SystemExit(main())
