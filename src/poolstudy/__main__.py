from poolstudy.cli import main

raise SystemExit(main())
