from mtmc.cli import main

raise SystemExit(main())
