from silverpay.cli import main

main()
