from nftreg.cli import main

main()
